-- 002: read models of the ledger and the projection checkpoints. Everything here is derived from
-- events and can be rebuilt from position 0 (escrow rebuild <projection>).

CREATE TABLE projection_checkpoints (
    projection      text        PRIMARY KEY,
    transaction_id  xid8        NOT NULL DEFAULT '0',
    global_position bigint      NOT NULL DEFAULT 0,
    events_applied  bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE account_balances (
    account_id       text        PRIMARY KEY,
    tenant           text        NOT NULL,
    owner            text        NOT NULL,
    currency         char(3)     NOT NULL,
    kind             text        NOT NULL,
    status           text        NOT NULL,
    overdraft_limit  numeric     NOT NULL,
    balance          numeric     NOT NULL,
    version          bigint      NOT NULL,
    opened_at        timestamptz NOT NULL,
    last_activity_at timestamptz NOT NULL,
    global_position  bigint      NOT NULL
);
CREATE INDEX account_balances_currency ON account_balances (currency);

-- One row per posting leg, with the balance right after it: answers "balance as of T" by index.
CREATE TABLE account_statement (
    account_id      text        NOT NULL,
    version         bigint      NOT NULL,
    global_position bigint      NOT NULL,
    posting_id      text        NOT NULL,
    kind            text        NOT NULL,
    counterparty    text        NOT NULL,
    reference       text,
    reversal_of     text,
    amount          numeric     NOT NULL,   -- signed: credit > 0, debit < 0
    balance_after   numeric     NOT NULL,
    occurred_at     timestamptz NOT NULL,
    PRIMARY KEY (account_id, version)
);
CREATE INDEX account_statement_as_of ON account_statement (account_id, occurred_at, version);

GRANT SELECT, INSERT, UPDATE, DELETE ON projection_checkpoints, account_balances, account_statement TO escrow_app;
