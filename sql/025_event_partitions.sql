-- 025: the events table in monthly partitions by recorded_at (the time PostgreSQL recorded the event), so that a month
-- can be archived to a file and dropped (escrow archive) while appends and reads touch only the live months' indexes.
-- Partitions are named events_YYYY_MM and made ahead of time: this migration makes every month the log spans and the
-- next three; every silo calls ensure_event_partitions at start and hourly with its ledger clock (EventPartitions.cs).
--
-- What partitioning changes: a unique constraint must include recorded_at, so (stream_id, version) and event_id are
-- indexed but no longer unique in the database. They stay unique: an append moves the stream's row in `streams` from its
-- expected version under a row lock (bump_streams, 013) and writes exactly the versions between, and event ids are
-- version-7 UUIDs made once per event. `escrow verify` checks every version of every stream once and in order.
--
-- Existing events are copied into the new table (with their positions and transaction ids), in one transaction.

ALTER TABLE events RENAME TO events_unpartitioned;
ALTER INDEX events_pkey RENAME TO events_unpartitioned_pkey;
ALTER INDEX events_stream_id_version_key RENAME TO events_unpartitioned_stream_version;
ALTER INDEX events_event_id_key RENAME TO events_unpartitioned_event_id;
ALTER INDEX events_commit_order RENAME TO events_unpartitioned_commit_order;
ALTER INDEX events_posting RENAME TO events_unpartitioned_posting;

CREATE TABLE events (
    global_position bigint      GENERATED ALWAYS AS IDENTITY,
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    stream_id       text        NOT NULL REFERENCES streams (stream_id),
    version         bigint      NOT NULL CHECK (version >= 1),
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL CHECK (schema_version >= 1),
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    prev_hash       bytea       NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash            bytea       NOT NULL CHECK (octet_length(hash) = 32),
    PRIMARY KEY (global_position, recorded_at)
) PARTITION BY RANGE (recorded_at);

CREATE INDEX events_stream_version ON events (stream_id, version);
CREATE INDEX events_event_id ON events (event_id);
CREATE INDEX events_commit_order ON events (transaction_id, global_position);
CREATE INDEX events_posting ON events ((data ->> 'postingId')) WHERE data ? 'postingId';

-- Row triggers on the partitioned table apply to every partition; TRUNCATE is refused on the table and on each
-- partition (a statement trigger does not reach partitions truncated on their own).
CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- One month's partition, [month, month + 1 month), with its TRUNCATE trigger; a no-op when it exists. False when the
-- month was archived (event_archives, below): an archived month is never made again.
CREATE FUNCTION create_event_partition(p_month date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    m date := date_trunc('month', p_month)::date;
    part text := format('events_%s', to_char(m, 'YYYY_MM'));
BEGIN
    IF to_regclass(part) IS NOT NULL OR EXISTS (SELECT FROM event_archives a WHERE a.month = m) THEN
        RETURN false;
    END IF;
    BEGIN
        EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                       part, m::timestamp AT TIME ZONE 'UTC', (m + interval '1 month') AT TIME ZONE 'UTC');
    EXCEPTION WHEN duplicate_table THEN
        RETURN false;   -- another silo made it just now
    END;
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()',
                   part || '_no_truncate', part);
    RETURN true;
END $$;

-- Months archived by escrow archive: the file, its SHA-256, what it holds. Written by the schema owner only.
CREATE TABLE event_archives (
    month          date        PRIMARY KEY CHECK (month = date_trunc('month', month)),
    file_name      text        NOT NULL,
    file_sha256    bytea       NOT NULL CHECK (octet_length(file_sha256) = 32),
    events         bigint      NOT NULL,
    streams        bigint      NOT NULL,
    first_position bigint,
    last_position  bigint,
    archived_at    timestamptz NOT NULL DEFAULT now(),
    archived_by    text        NOT NULL
);
-- Per stream and archived month: the first and last version it held there and the last one's hash. The live part of
-- a stream continues from its last archived head (version + 1, prev_hash = hash): verify, checkpoints and replays
-- start there; escrow verify --archive checks the heads against the files.
CREATE TABLE archived_stream_heads (
    stream_id     text   NOT NULL,
    month         date   NOT NULL REFERENCES event_archives (month),
    first_version bigint NOT NULL,
    last_version  bigint NOT NULL,
    last_hash     bytea  NOT NULL CHECK (octet_length(last_hash) = 32),
    PRIMARY KEY (stream_id, month)
);
REVOKE ALL ON event_archives, archived_stream_heads FROM PUBLIC;
GRANT SELECT ON event_archives, archived_stream_heads TO escrow_app;

-- Makes the partitions of every month from the current one (by the database's clock) through three months after
-- p_through (a silo's ledger clock), at most 60 months ahead; answers how many it made. SECURITY DEFINER: the silo's
-- role may call it but owns nothing.
CREATE FUNCTION ensure_event_partitions(p_through timestamptz) RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
    m date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    upto date := least(date_trunc('month', greatest(now(), p_through) AT TIME ZONE 'UTC') + interval '3 months',
                       date_trunc('month', now() AT TIME ZONE 'UTC') + interval '60 months')::date;
    made integer := 0;
BEGIN
    -- Silos starting together queue here instead of racing to make the same partition.
    PERFORM pg_advisory_xact_lock(hashtext('ensure_event_partitions'));
    WHILE m <= upto LOOP
        IF create_event_partition(m) THEN
            made := made + 1;
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN made;
END $$;
REVOKE ALL ON FUNCTION ensure_event_partitions(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ensure_event_partitions(timestamptz) TO escrow_app;

-- The months the existing events span, then the current one and three ahead.
DO $$
DECLARE
    m date;
BEGIN
    SELECT date_trunc('month', min(recorded_at) AT TIME ZONE 'UTC')::date INTO m FROM events_unpartitioned;
    WHILE m IS NOT NULL AND m < date_trunc('month', now() AT TIME ZONE 'UTC') LOOP
        PERFORM create_event_partition(m);
        m := (m + interval '1 month')::date;
    END LOOP;
END $$;
SELECT ensure_event_partitions(now());

INSERT INTO events (global_position, transaction_id, stream_id, version, event_id, event_type, schema_version, data, metadata,
                    occurred_at, recorded_at, prev_hash, hash)
OVERRIDING SYSTEM VALUE
SELECT global_position, transaction_id, stream_id, version, event_id, event_type, schema_version, data, metadata,
       occurred_at, recorded_at, prev_hash, hash
FROM events_unpartitioned ORDER BY global_position;
SELECT setval(pg_get_serial_sequence('events', 'global_position'),
              (SELECT coalesce(max(global_position), 0) + 1 FROM events_unpartitioned), false);
DROP TABLE events_unpartitioned;

REVOKE ALL ON events FROM PUBLIC;
GRANT SELECT, INSERT ON events TO escrow_app;
ANALYZE events;
