-- 001: the event log. Events are facts: the database itself refuses to change or delete them.
-- Run as the schema owner. The silo connects as escrow_app, which may only INSERT and SELECT events.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'escrow_app') THEN
        CREATE ROLE escrow_app LOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    -- Roles are cluster-wide: two databases migrating at once (tests) may race to create it.
    NULL;
END $$;

CREATE TABLE streams (
    stream_id   text        PRIMARY KEY,
    stream_type text        NOT NULL,
    tenant      text        NOT NULL,
    version     bigint      NOT NULL CHECK (version >= 1),
    last_hash   bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE events (
    global_position bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The writing transaction's id. Readers of the global log order by (transaction_id, global_position)
    -- and only read transactions older than every still-running one; see PgEventStore.ReadAllAsync.
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    stream_id       text        NOT NULL REFERENCES streams (stream_id),
    version         bigint      NOT NULL CHECK (version >= 1),
    event_id        uuid        NOT NULL UNIQUE,
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL CHECK (schema_version >= 1),
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    prev_hash       bytea       NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash            bytea       NOT NULL CHECK (octet_length(hash) = 32),
    UNIQUE (stream_id, version)
);

CREATE INDEX events_commit_order ON events (transaction_id, global_position);
CREATE INDEX events_posting ON events ((data ->> 'postingId')) WHERE data ? 'postingId';

CREATE TABLE snapshots (
    stream_id      text        PRIMARY KEY,
    version        bigint      NOT NULL,
    schema_version integer     NOT NULL,
    hash           bytea       NOT NULL,
    state          jsonb       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Idempotency records are written in the same transaction as the events they answer for.
CREATE TABLE idempotency (
    tenant        text        NOT NULL,
    key           text        NOT NULL,
    request_hash  bytea       NOT NULL,
    status_code   integer     NOT NULL,
    response_body text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, key)
);

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % is refused: the table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER streams_no_delete BEFORE DELETE ON streams
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER streams_no_truncate BEFORE TRUNCATE ON streams
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER idempotency_no_update_delete BEFORE UPDATE OR DELETE ON idempotency
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Optimistic concurrency for one stream inside an append. Raises SQLSTATE ES409 naming the stream,
-- the expected and the actual version; the whole append transaction then rolls back.
CREATE FUNCTION bump_stream(p_stream text, p_type text, p_tenant text, p_expected bigint, p_new bigint, p_last_hash bytea)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    actual bigint;
BEGIN
    IF p_expected = 0 THEN
        INSERT INTO streams (stream_id, stream_type, tenant, version, last_hash)
        VALUES (p_stream, p_type, p_tenant, p_new, p_last_hash)
        ON CONFLICT (stream_id) DO NOTHING;
    ELSE
        -- Under READ COMMITTED a concurrent writer's committed bump is re-checked here, so the loser
        -- sees version <> p_expected and updates nothing.
        UPDATE streams SET version = p_new, last_hash = p_last_hash, updated_at = now()
        WHERE stream_id = p_stream AND version = p_expected;
    END IF;
    IF FOUND THEN
        RETURN;
    END IF;
    SELECT version INTO actual FROM streams WHERE stream_id = p_stream;
    RAISE EXCEPTION 'wrong expected version for stream %: expected %, actual %', p_stream, p_expected, coalesce(actual, 0)
        USING ERRCODE = 'ES409', DETAIL = json_build_object('stream', p_stream, 'expected', p_expected, 'actual', coalesce(actual, 0))::text;
END $$;

REVOKE ALL ON streams, events, snapshots, idempotency FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO escrow_app;
GRANT SELECT, INSERT ON events TO escrow_app;
GRANT SELECT, INSERT, UPDATE ON streams TO escrow_app;
GRANT SELECT, INSERT ON idempotency TO escrow_app;
GRANT SELECT, INSERT, UPDATE ON snapshots TO escrow_app;
