-- 014: a UETR is unique per institution, not cluster-wide (payment streams are payment-{institution}-{uetr}), so the
-- payment read models are keyed by (tenant, uetr). Read models only: they are rebuilt from the log by the projection.

ALTER TABLE payment_status DROP CONSTRAINT payment_status_pkey;
ALTER TABLE payment_status ADD PRIMARY KEY (tenant, uetr);
ALTER TABLE payment_timeline DROP CONSTRAINT payment_timeline_pkey;
ALTER TABLE payment_timeline ADD PRIMARY KEY (tenant, uetr, sequence);
