-- 009: read models of cross-border payments (projection "payments"): one status row per UETR and a
-- timeline row per payment event. Derived from the payment-{uetr} streams; rebuildable from position 0.
-- Corridor statistics are a query over payment_status (see PaymentQueryEndpoints), indexed below.

CREATE TABLE payment_status (
    uetr                 text        PRIMARY KEY,          -- lower-case UUIDv4; the stream is payment-{uetr}
    tenant               text        NOT NULL,
    status               text        NOT NULL,             -- PaymentStatus name: Initiated, Accepted, Completed, Rejected, ...
    source_agent         text,                             -- debtor agent (BIC, else clearing member id) of the pacs.008
    destination_agent    text,                             -- creditor agent of the pacs.008 (or of the proxy resolution before it)
    source_currency      text,                             -- ISO 4217: the quote's source currency, else the pacs.008's settlement currency
    destination_currency text,                             -- the quote's target currency, else the settlement currency (no FX)
    source_amount        numeric,                          -- major units of source_currency
    destination_amount   numeric,                          -- major units of destination_currency (source × rate, rounded to its minor unit)
    rate                 numeric,                          -- selected quote: destination units per source unit
    quote_id             text,
    fxp_id               text,
    rejection_reason     text,                             -- pacs.002 RJCT reason code, validation or proxy failure reason
    returned_amount      numeric     NOT NULL DEFAULT 0,   -- cumulative pacs.004 returns, in the settlement currency
    initiated_at         timestamptz,                      -- PAYMENT_INITIATED
    settled_at           timestamptz,                      -- PAYMENT_ACCEPTED (pacs.002 ACSC/ACCC)
    completed_at         timestamptz,                      -- the outcome: PAYMENT_COMPLETED, or PAYMENT_REJECTED / PAYMENT_VALIDATION_FAILED / PROXY_RESOLUTION_FAILED
    duration_seconds     numeric,                          -- completed_at - initiated_at, when both are known
    version              bigint      NOT NULL,
    global_position      bigint      NOT NULL,
    updated_at           timestamptz NOT NULL,             -- instant of the last event (its At)
    state                jsonb       NOT NULL,             -- the folded PaymentState (raw XML left out), so the row evolves exactly like the aggregate
    CHECK (returned_amount >= 0 AND (duration_seconds IS NULL OR duration_seconds >= 0))
);
CREATE INDEX payment_status_by_tenant_status ON payment_status (tenant, status, uetr);
CREATE INDEX payment_status_by_tenant_corridor ON payment_status (tenant, source_currency, destination_currency, uetr)
    INCLUDE (status, settled_at, completed_at, duration_seconds);

CREATE TABLE payment_timeline (
    uetr            text        NOT NULL,
    sequence        bigint      NOT NULL,                  -- the event's version in its stream (1, 2, ...)
    global_position bigint      NOT NULL,
    tenant          text        NOT NULL,
    event_type      text        NOT NULL,                  -- stored event name: PAYMENT_INITIATED, ...
    status          text        NOT NULL,                  -- PaymentStatus after the event
    occurred_at     timestamptz NOT NULL,
    actor           text        NOT NULL,                  -- metadata.actor of the event
    details         jsonb       NOT NULL,                  -- the event's data without uetr, at, rawXml and fingerprint
    PRIMARY KEY (uetr, sequence)
);
CREATE INDEX payment_timeline_by_tenant ON payment_timeline (tenant, uetr, sequence);

GRANT SELECT, INSERT, UPDATE, DELETE ON payment_status, payment_timeline TO escrow_app;
