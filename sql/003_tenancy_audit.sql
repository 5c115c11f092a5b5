-- 003: institutions (tenants), API keys and the audit log.
-- Keys are stored as SHA-256 of a 256-bit random secret: the secret itself is shown once and never stored.
-- The audit log is write once, read many: the database refuses UPDATE, DELETE and TRUNCATE even for the owner.

CREATE TABLE institutions (
    institution_id text        PRIMARY KEY CHECK (institution_id ~ '^[a-z0-9][a-z0-9-]{0,31}$'),
    name           text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text        NOT NULL
);

-- The tenant of the Berka import and of commands that name no institution.
INSERT INTO institutions (institution_id, name, created_by) VALUES ('default', 'default institution (Berka import)', 'migration 003');

CREATE TABLE api_keys (
    key_id         text        PRIMARY KEY,
    institution_id text        NOT NULL REFERENCES institutions (institution_id),
    role           text        NOT NULL CHECK (role IN ('root', 'writer', 'auditor')),
    name           text,
    secret_sha256  bytea       NOT NULL UNIQUE CHECK (octet_length(secret_sha256) = 32),
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text        NOT NULL
);
CREATE INDEX api_keys_institution ON api_keys (institution_id);

CREATE TABLE audit_log (
    audit_position  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    audit_id        uuid        NOT NULL UNIQUE,
    at              timestamptz NOT NULL,
    actor           text        NOT NULL,    -- the API key's id (never its secret), or system / berka-import / anonymous
    tenant          text        NOT NULL,
    operation       text        NOT NULL,
    outcome         text        NOT NULL CHECK (outcome IN ('accepted', 'rejected', 'replayed', 'refused')),
    status          integer     NOT NULL,
    code            text,
    payload_sha256  bytea       NOT NULL,
    stream_ids      text[]      NOT NULL,
    correlation_id  uuid        NOT NULL,
    idempotency_key text
);
CREATE INDEX audit_log_tenant_at ON audit_log (tenant, at);
CREATE INDEX audit_log_actor_at ON audit_log (actor, at);
CREATE INDEX audit_log_streams ON audit_log USING gin (stream_ids);

CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER idempotency_no_truncate BEFORE TRUNCATE ON idempotency
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

CREATE INDEX account_balances_tenant ON account_balances (tenant);
CREATE INDEX streams_tenant ON streams (tenant);

REVOKE ALL ON institutions, api_keys, audit_log FROM PUBLIC;
GRANT SELECT, INSERT ON institutions, api_keys, audit_log TO escrow_app;

-- The statement read model carries the tenant too, stamped from the stream on insert (the projection code
-- need not know about it; a rebuild re-stamps every row).
ALTER TABLE account_statement ADD COLUMN tenant text;
UPDATE account_statement s SET tenant = st.tenant FROM streams st WHERE st.stream_id = 'account-' || s.account_id;
CREATE FUNCTION stamp_statement_tenant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tenant IS NULL THEN
        SELECT tenant INTO NEW.tenant FROM streams WHERE stream_id = 'account-' || NEW.account_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER account_statement_tenant BEFORE INSERT ON account_statement
    FOR EACH ROW EXECUTE FUNCTION stamp_statement_tenant();
