-- 006: cluster membership (the Orleans membership table). Each silo process inserts one row with a
-- fresh id at start, heartbeats into it, and marks it stopped on a clean shutdown. A silo whose last
-- beat is older than the configured limit is shown dead; a restarted silo is a new row.

CREATE TABLE silos (
    silo_id     uuid        PRIMARY KEY,
    address     text        NOT NULL,
    version     text        NOT NULL,
    started_at  timestamptz NOT NULL,
    last_beat   timestamptz NOT NULL,
    activations integer     NOT NULL DEFAULT 0,
    stopped_at  timestamptz
);
CREATE INDEX silos_recent ON silos (last_beat DESC);

GRANT SELECT, INSERT, UPDATE ON silos TO escrow_app;
