-- 008: every read-model row carries its tenant: deal_timeline gets the deal's tenant.
ALTER TABLE deal_timeline ADD COLUMN tenant text NOT NULL DEFAULT '';
CREATE INDEX deal_timeline_by_tenant ON deal_timeline (tenant, deal_id, version);
