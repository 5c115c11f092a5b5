-- 023: every snapshot kept, so "the state as of an instant" starts from the last snapshot at or before that instant
-- instead of the stream's first event (a 1,000,000-event account answers in the time of its last ≤ 50 events).
--
-- `snapshots` keeps each stream's latest snapshot (an activation loads it); `snapshot_history` keeps every snapshot
-- ever written, with occurred_to: the latest occurred_at among the stream's events 1..version. Events of one stream need
-- not occur in version order (a command's clock, a silo's clock), and the as-of replay takes every event with occurred_at
-- at or before T; so a snapshot may stand in for events 1..version only when all of them occurred at or before T, which
-- is occurred_to <= T. occurred_to never falls as version rises (a running maximum), so the latest usable snapshot is the
-- last row of the (stream_id, occurred_to, version) index at or before T.
--
-- A snapshot is derived data that the application writes, not evidence: a reader checks that its hash is the event's
-- hash at its version (the chain anchors it) and `escrow verify` folds every stream and compares the kept states.
-- The rows are written by the group commit in the same transaction as the events they follow; like the events, they
-- are never changed.
CREATE TABLE snapshot_history (
    stream_id      text        NOT NULL,
    version        bigint      NOT NULL CHECK (version >= 1),
    schema_version integer     NOT NULL,
    hash           bytea       NOT NULL CHECK (octet_length(hash) = 32),
    state          jsonb       NOT NULL,
    occurred_to    timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, version)
);

CREATE INDEX snapshot_history_as_of ON snapshot_history (stream_id, occurred_to, version);

CREATE TRIGGER snapshot_history_no_update_delete BEFORE UPDATE OR DELETE ON snapshot_history
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER snapshot_history_no_truncate BEFORE TRUNCATE ON snapshot_history
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- The snapshots that exist today start the history.
INSERT INTO snapshot_history (stream_id, version, schema_version, hash, state, occurred_to)
SELECT s.stream_id, s.version, s.schema_version, s.hash, s.state,
       (SELECT max(e.occurred_at) FROM events e WHERE e.stream_id = s.stream_id AND e.version <= s.version)
FROM snapshots s
WHERE EXISTS (SELECT FROM events e WHERE e.stream_id = s.stream_id AND e.version <= s.version);

REVOKE ALL ON snapshot_history FROM PUBLIC;
GRANT SELECT, INSERT ON snapshot_history TO escrow_app;
