-- 010: reference data of cross-border payments: FX providers' published rates and the proxy directory.
-- Configuration, not money. Rows are insert-only: a new rate or a changed directory entry is a new row, and the
-- newest row wins, so "which rate was published when" stays answerable for an audit.

CREATE TABLE fxp_rates (
    tenant           text        NOT NULL,
    fxp_id           text        NOT NULL,
    source_currency  char(3)     NOT NULL,
    target_currency  char(3)     NOT NULL,
    rate             numeric     NOT NULL,   -- units of target currency per unit of source currency (mid rate)
    spread           numeric     NOT NULL,   -- fraction taken off the mid rate for the customer (0.002 = 0.2 %)
    valid_seconds    integer     NOT NULL,   -- how long a quote at this rate stays selectable
    published_by     text        NOT NULL,
    published_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant, source_currency, target_currency, fxp_id, published_at),
    CHECK (rate > 0 AND spread >= 0 AND spread < 1 AND valid_seconds > 0 AND source_currency <> target_currency)
);
CREATE TRIGGER fxp_rates_no_update_delete BEFORE UPDATE OR DELETE ON fxp_rates
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

CREATE TABLE proxy_directory (
    tenant           text        NOT NULL,
    proxy_type       text        NOT NULL,   -- MOBL (phone), EMAL (e-mail), IBAN, or another ISO 20022 proxy type code
    proxy_value      text        NOT NULL,
    creditor_name    text,
    creditor_account text        NOT NULL,
    creditor_agent   text        NOT NULL,   -- BIC or clearing member id of the destination PSP
    registered_by    text        NOT NULL,
    registered_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant, proxy_type, proxy_value, registered_at)
);
CREATE TRIGGER proxy_directory_no_update_delete BEFORE UPDATE OR DELETE ON proxy_directory
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

GRANT SELECT, INSERT ON fxp_rates, proxy_directory TO escrow_app;
