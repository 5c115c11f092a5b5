-- 004: durable timers (the Orleans reminder, built here). A timer row is written in the same
-- transaction as the event that sets it; exactly one silo fires due timers (advisory lock);
-- firing runs a command whose idempotency key is the timer's id, so firing twice has no second effect.

CREATE TABLE timers (
    timer_id     text        PRIMARY KEY,          -- e.g. 'deal-expiry:d-42'
    kind         text        NOT NULL,             -- which handler fires it
    stream_id    text        NOT NULL,             -- the aggregate it acts on
    tenant       text        NOT NULL,
    due_at       timestamptz NOT NULL,
    payload      jsonb       NOT NULL DEFAULT '{}',
    generation   integer     NOT NULL DEFAULT 1,   -- bumped on every re-arm, part of the firing's idempotency key
    created_at   timestamptz NOT NULL DEFAULT now(),
    fired_at     timestamptz,
    cancelled_at timestamptz,
    attempts     integer     NOT NULL DEFAULT 0,
    outcome      text
);
CREATE INDEX timers_due ON timers (due_at) WHERE fired_at IS NULL AND cancelled_at IS NULL;

GRANT SELECT, INSERT, UPDATE ON timers TO escrow_app;
