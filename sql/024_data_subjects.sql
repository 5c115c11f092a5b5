-- 024: personal data by crypto-shredding (GDPR art. 17). Personal fields of events (an account owner's name, a deal's
-- terms, dispute reasons and evidence, the names and the raw message of a pacs.008...) are stored encrypted under the
-- keys of their data subjects (PersonalData.cs); this table holds those keys, outside the event log and unlike it
-- mutable. Erasing a subject sets its key to NULL (and erased_at): the ciphertext in the events, snapshots, read models
-- and idempotency answers stays, hashed and chained, but nobody can read it again. The erasure itself is an event
-- (PersonalDataErased on stream subject-{tenant}/{subject}); this row only keeps the key.
--
-- A destroyed key survives in the table's dead tuples until VACUUM, in WAL until it is recycled and in base backups
-- until they expire: docs/compliance.md says how long that is and how to keep keys in a KMS or an HSM instead.
CREATE TABLE data_subjects (
    tenant     text        NOT NULL,
    subject    text        NOT NULL CHECK (subject ~ '^[A-Za-z0-9._:-]{1,128}$'),
    key        bytea       CHECK (key IS NULL OR octet_length(key) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    erased_at  timestamptz,
    PRIMARY KEY (tenant, subject),
    CHECK ((key IS NULL) = (erased_at IS NOT NULL))
);

-- Keys are never handed back once destroyed: a row may only go from a key to no key.
CREATE FUNCTION data_subjects_erase_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.key IS NULL AND NEW.key IS NOT NULL THEN
        RAISE EXCEPTION 'subject %/% was erased; its key cannot come back', OLD.tenant, OLD.subject
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.key IS NOT NULL AND NEW.key IS NOT NULL AND OLD.key <> NEW.key THEN
        RAISE EXCEPTION 'the key of subject %/% cannot be replaced', OLD.tenant, OLD.subject
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.key IS NULL THEN
        PERFORM pg_notify('escrow_subject_erased', NEW.tenant || '/' || NEW.subject);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER data_subjects_erase_only BEFORE UPDATE ON data_subjects
    FOR EACH ROW EXECUTE FUNCTION data_subjects_erase_only();
CREATE FUNCTION data_subjects_notify_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.key IS NULL THEN
        PERFORM pg_notify('escrow_subject_erased', NEW.tenant || '/' || NEW.subject);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER data_subjects_notify_insert AFTER INSERT ON data_subjects
    FOR EACH ROW EXECUTE FUNCTION data_subjects_notify_insert();

REVOKE ALL ON data_subjects FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE (key, erased_at) ON data_subjects TO escrow_app;
