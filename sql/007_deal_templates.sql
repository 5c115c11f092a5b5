-- 007: deal templates (an institution's escrow products): currency, allowed amount range, default expiry.
-- Configuration, not money: rows are never updated (a changed product is a new template id) or deleted.

CREATE TABLE deal_templates (
    tenant                 text        NOT NULL,
    template_id            text        NOT NULL,
    name                   text        NOT NULL,
    currency               char(3)     NOT NULL,
    min_amount             numeric     NOT NULL,
    max_amount             numeric     NOT NULL,
    default_expiry_seconds bigint      NOT NULL,
    refund_at_expiry       boolean     NOT NULL,
    created_by             text        NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, template_id),
    CHECK (min_amount > 0 AND max_amount >= min_amount AND default_expiry_seconds > 0)
);
CREATE TRIGGER deal_templates_no_update_delete BEFORE UPDATE OR DELETE ON deal_templates
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

GRANT SELECT, INSERT ON deal_templates TO escrow_app;
