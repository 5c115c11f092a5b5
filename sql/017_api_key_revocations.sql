-- 017: API key revocation. api_keys stays insert-only; a revocation is a row of its own (who, when, why), itself
-- append-only, so the audit trail of a key is its creation row, its revocation row and the audit log. A revoked key
-- no longer authenticates (TenancyStore.FindKeyAsync); silos that cached it drop it within Escrow:KeyCacheSeconds.
CREATE TABLE api_key_revocations (
    key_id      text        PRIMARY KEY REFERENCES api_keys (key_id),
    revoked_at  timestamptz NOT NULL,
    revoked_by  text        NOT NULL,
    reason      text
);
CREATE TRIGGER api_key_revocations_no_update_delete BEFORE UPDATE OR DELETE ON api_key_revocations
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER api_key_revocations_no_truncate BEFORE TRUNCATE ON api_key_revocations
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
REVOKE ALL ON api_key_revocations FROM PUBLIC;
GRANT SELECT, INSERT ON api_key_revocations TO escrow_app;
