-- 013: group commit. PgEventStore commits the appends of several concurrent commands in one transaction
-- (one round trip, one WAL flush). bump_streams moves every stream of such a batch in one call, with the
-- same optimistic-concurrency rule as bump_stream (001), which stays for single appends and tests.

-- Moves each stream p_streams[i] from p_expected[i] to p_new[i] (p_expected[i] = 0 creates it), in stream-id
-- order ("C" collation), so two batches that touch overlapping streams wait for each other instead of
-- deadlocking. The first stream that is not at its expected version raises SQLSTATE ES409 with the same
-- message as bump_stream; the whole transaction then rolls back and the caller drops the command that owns
-- that stream and commits the others again.
CREATE FUNCTION bump_streams(p_streams text[], p_types text[], p_tenants text[], p_expected bigint[], p_new bigint[], p_hashes bytea[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    i integer;
    actual bigint;
BEGIN
    FOR i IN SELECT u.ord FROM unnest(p_streams) WITH ORDINALITY AS u(stream_id, ord) ORDER BY u.stream_id COLLATE "C"
    LOOP
        IF p_expected[i] = 0 THEN
            INSERT INTO streams (stream_id, stream_type, tenant, version, last_hash)
            VALUES (p_streams[i], p_types[i], p_tenants[i], p_new[i], p_hashes[i])
            ON CONFLICT (stream_id) DO NOTHING;
        ELSE
            -- Under READ COMMITTED a concurrent writer's committed bump is re-checked here, so the loser
            -- sees version <> expected and updates nothing.
            UPDATE streams SET version = p_new[i], last_hash = p_hashes[i], updated_at = now()
            WHERE stream_id = p_streams[i] AND version = p_expected[i];
        END IF;
        IF NOT FOUND THEN
            SELECT version INTO actual FROM streams WHERE stream_id = p_streams[i];
            RAISE EXCEPTION 'wrong expected version for stream %: expected %, actual %', p_streams[i], p_expected[i], coalesce(actual, 0)
                USING ERRCODE = 'ES409',
                      DETAIL = json_build_object('stream', p_streams[i], 'expected', p_expected[i], 'actual', coalesce(actual, 0))::text;
        END IF;
    END LOOP;
END $$;
