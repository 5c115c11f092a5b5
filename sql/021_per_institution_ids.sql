-- 021: account and deal ids are unique per institution, not across the cluster. New streams are named
-- account-{tenant}/{id} and deal-{tenant}/{id} (institution ids never contain '/'), and the grains are keyed {tenant}/{id}.
--
-- A stream written before keeps its id: its events' hashes cover it and the events table refuses changes. stream_aliases
-- gives each such stream its new id; the event store reads and writes the stream under that id and hands its events out
-- under it (PgEventStore.Aliases.cs). The table is filled here once and never changes afterwards.
CREATE TABLE stream_aliases (
    alias     text PRIMARY KEY,
    stream_id text NOT NULL UNIQUE REFERENCES streams (stream_id)
);
INSERT INTO stream_aliases (alias, stream_id)
SELECT 'account-' || tenant || '/' || substr(stream_id, length('account-') + 1), stream_id
FROM streams WHERE stream_id LIKE 'account-%' AND strpos(stream_id, '/') = 0
UNION ALL
SELECT 'deal-' || tenant || '/' || substr(stream_id, length('deal-') + 1), stream_id
FROM streams WHERE stream_id LIKE 'deal-%' AND strpos(stream_id, '/') = 0;

CREATE TRIGGER stream_aliases_no_change BEFORE INSERT OR UPDATE OR DELETE ON stream_aliases
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER stream_aliases_no_truncate BEFORE TRUNCATE ON stream_aliases
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
REVOKE ALL ON stream_aliases FROM PUBLIC;
GRANT SELECT ON stream_aliases TO escrow_app;

-- The account and deal read models are keyed by (tenant, id). They are derived, so they are emptied here and rebuilt
-- from the log by their projections on the next start (the checkpoints go back to the beginning).
TRUNCATE account_balances, account_statement, deal_status, deal_timeline;
DELETE FROM projection_checkpoints WHERE projection IN ('account_balances', 'account_statement', 'deals');

ALTER TABLE account_balances DROP CONSTRAINT account_balances_pkey, ADD PRIMARY KEY (tenant, account_id);
DROP INDEX account_balances_tenant;

DROP TRIGGER account_statement_tenant ON account_statement;
DROP FUNCTION stamp_statement_tenant();
ALTER TABLE account_statement ALTER COLUMN tenant SET NOT NULL,
    DROP CONSTRAINT account_statement_pkey, ADD PRIMARY KEY (tenant, account_id, version);
DROP INDEX account_statement_as_of;
CREATE INDEX account_statement_as_of ON account_statement (tenant, account_id, occurred_at, version);

ALTER TABLE deal_status DROP CONSTRAINT deal_status_pkey, ADD PRIMARY KEY (tenant, deal_id);
ALTER TABLE deal_timeline ALTER COLUMN tenant DROP DEFAULT,
    DROP CONSTRAINT deal_timeline_pkey, ADD PRIMARY KEY (tenant, deal_id, version);
DROP INDEX deal_timeline_by_tenant;

-- Armed deal expiries name their deal by its new stream id; the timer id carries the institution too.
UPDATE timers SET timer_id = 'deal-expiry:' || tenant || '/' || substr(timer_id, length('deal-expiry:') + 1),
                  stream_id = 'deal-' || tenant || '/' || substr(stream_id, length('deal-') + 1)
WHERE kind = 'deal-expiry' AND strpos(stream_id, '/') = 0;
