-- 005: read models of escrow deals (projection "deals"): current status and amounts per deal, and the
-- timeline of every transition with its actor. Derived from events; rebuildable from position 0.

CREATE TABLE deal_status (
    deal_id            text        PRIMARY KEY,
    tenant             text        NOT NULL,
    template_id        text        NOT NULL,
    status             text        NOT NULL,
    buyer_account      text        NOT NULL,
    seller_account     text        NOT NULL,
    escrow_account     text        NOT NULL,
    currency           char(3)     NOT NULL,
    amount             numeric     NOT NULL,
    funded             numeric     NOT NULL,
    released           numeric     NOT NULL,
    refunded           numeric     NOT NULL,
    held               numeric     NOT NULL,
    expires_at         timestamptz NOT NULL,
    refund_at_expiry   boolean     NOT NULL,
    external_reference text,
    evidence_count     integer     NOT NULL,
    created_at         timestamptz NOT NULL,
    last_activity_at   timestamptz NOT NULL,
    version            bigint      NOT NULL,
    global_position    bigint      NOT NULL,
    state              jsonb       NOT NULL,      -- the folded DealState, so the projection evolves exactly like the aggregate
    CHECK (funded = released + refunded + held AND held >= 0)   -- the escrow invariant, enforced on the read side too
);
CREATE INDEX deal_status_by_tenant_state ON deal_status (tenant, status, deal_id);
CREATE INDEX deal_status_by_state ON deal_status (status, deal_id);

CREATE TABLE deal_timeline (
    deal_id         text        NOT NULL,
    version         bigint      NOT NULL,
    global_position bigint      NOT NULL,
    event_type      text        NOT NULL,
    from_status     text        NOT NULL,
    to_status       text        NOT NULL,
    actor           text        NOT NULL,
    amount          numeric,
    occurred_at     timestamptz NOT NULL,
    PRIMARY KEY (deal_id, version)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON deal_status, deal_timeline TO escrow_app;
