-- 018: a committed revocation reaches every silo at once. The trigger notifies channel escrow_key_revoked with the key
-- id; NOTIFY is delivered only when the inserting transaction commits, so a rolled-back revocation tells no one.
-- Every silo LISTENs (KeyRevocationListener) and drops the key from its cache; this covers any writer of the table
-- (the HTTP endpoint on any silo, `escrow keys revoke` straight to the database).
CREATE FUNCTION notify_key_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('escrow_key_revoked', NEW.key_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER api_key_revocations_notify AFTER INSERT ON api_key_revocations
    FOR EACH ROW EXECUTE FUNCTION notify_key_revoked();
