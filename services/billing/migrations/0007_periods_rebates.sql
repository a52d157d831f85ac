-- Accounting periods: the settings (set once per tenant), the periods (one
-- open at a time), and each account's opening balance in a period (the
-- closing balance of the one before). A posted transaction belongs to the
-- open period until a close stamps it with the period it closed.
CREATE TABLE billing.period_settings (
    tenant_id   uuid        PRIMARY KEY,
    frequency   text        NOT NULL,
    first_start date        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE billing.periods (
    tenant_id  uuid        NOT NULL,
    id         uuid        NOT NULL,
    start_date date        NOT NULL,
    end_date   date        NOT NULL,
    status     text        NOT NULL DEFAULT 'OPEN',
    closed_at  timestamptz,
    CONSTRAINT periods_pkey PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX periods_one_open ON billing.periods (tenant_id) WHERE status = 'OPEN';

CREATE TABLE billing.period_balances (
    tenant_id  uuid    NOT NULL,
    period_id  uuid    NOT NULL,
    account_id uuid    NOT NULL,
    opening    numeric NOT NULL,
    CONSTRAINT period_balances_pkey PRIMARY KEY (tenant_id, period_id, account_id)
);

ALTER TABLE billing.invoices ADD COLUMN period_id uuid;
ALTER TABLE billing.payments ADD COLUMN period_id uuid;
ALTER TABLE billing.adjustments ADD COLUMN period_id uuid;
CREATE INDEX invoices_unclosed ON billing.invoices (tenant_id, account_id) WHERE period_id IS NULL AND status = 'POSTED';

-- Rebate credit notes: once per account, rebate term and period.
CREATE TABLE billing.rebates (
    tenant_id      uuid        NOT NULL,
    account_id     uuid        NOT NULL,
    term_id        uuid        NOT NULL,
    period_start   date        NOT NULL,
    period_end     date        NOT NULL,
    turnover       numeric     NOT NULL,
    rebate         numeric     NOT NULL,
    credit_note_id uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT rebates_pkey PRIMARY KEY (tenant_id, account_id, term_id, period_start)
);
