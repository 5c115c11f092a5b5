-- 013: group commit. PgEventStore commits the appends of several concurrent commands in one transaction
-- (one round trip, one WAL flush). bump_streams moves every stream of such a batch in one call, with the
-- same optimistic-concurrency rule as bump_stream (001), which stays (the store no longer calls it).

-- Moves each stream p_streams[i] from p_expected[i] to p_new[i] (p_expected[i] = 0 creates it). Set-based: one
-- UPDATE and one INSERT for the whole batch (a plpgsql loop of one UPDATE per stream cost about 80 us per stream).
-- The caller passes the streams sorted by id, so the UPDATE's nested loop takes the row locks in id order and two
-- batches that touch overlapping streams queue instead of deadlocking (and if a plan ever did deadlock, PostgreSQL
-- aborts one batch and its commands are committed one by one: a delay, never a wrong answer).
-- A stream that is not at its expected version raises SQLSTATE ES409 with the same message as bump_stream, naming
-- the first such stream; the whole transaction then rolls back and the caller drops the command that owns that
-- stream and commits the others again.
CREATE FUNCTION bump_streams(p_streams text[], p_types text[], p_tenants text[], p_expected bigint[], p_new bigint[], p_hashes bytea[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    moved bigint;
    created bigint;
    bad record;
BEGIN
    -- Under READ COMMITTED a concurrent writer's committed bump is re-checked here, so the loser's row
    -- no longer matches its expected version and is not updated.
    UPDATE streams s SET version = u.new_version, last_hash = u.hash, updated_at = now()
    FROM unnest(p_streams, p_expected, p_new, p_hashes) AS u(stream_id, expected, new_version, hash)
    WHERE s.stream_id = u.stream_id AND u.expected > 0 AND s.version = u.expected;
    GET DIAGNOSTICS moved = ROW_COUNT;
    INSERT INTO streams (stream_id, stream_type, tenant, version, last_hash)
    SELECT u.stream_id, u.stream_type, u.tenant, u.new_version, u.hash
    FROM unnest(p_streams, p_types, p_tenants, p_expected, p_new, p_hashes) AS u(stream_id, stream_type, tenant, expected, new_version, hash)
    WHERE u.expected = 0
    ON CONFLICT (stream_id) DO NOTHING;
    GET DIAGNOSTICS created = ROW_COUNT;
    IF moved + created = cardinality(p_streams) THEN
        RETURN;
    END IF;
    -- Some stream was not moved: the first whose row does not carry this batch's new hash.
    SELECT u.stream_id, u.expected, coalesce(s.version, 0) AS actual INTO bad
    FROM unnest(p_streams, p_expected, p_hashes) WITH ORDINALITY AS u(stream_id, expected, hash, ord)
    LEFT JOIN streams s ON s.stream_id = u.stream_id
    WHERE s.last_hash IS DISTINCT FROM u.hash
    ORDER BY u.ord
    LIMIT 1;
    RAISE EXCEPTION 'wrong expected version for stream %: expected %, actual %', bad.stream_id, bad.expected, bad.actual
        USING ERRCODE = 'ES409',
              DETAIL = json_build_object('stream', bad.stream_id, 'expected', bad.expected, 'actual', bad.actual)::text;
END $$;
