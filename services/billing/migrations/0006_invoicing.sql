-- Subscriptions as created (encoded bss.billing.v1.Subscription) with what
-- charging them needs: the price fixed at creation, the bill-to, and how
-- many monthly periods are charged so far (period k starts `k` months after
-- `start_date`).
CREATE TABLE billing.subscriptions (
    tenant_id          uuid        NOT NULL,
    id                 uuid        NOT NULL,
    account_id         uuid        NOT NULL,
    body               bytea       NOT NULL,
    bill_to_account_id uuid        NOT NULL,
    separate           boolean     NOT NULL,
    product_id         text        NOT NULL,
    description        text        NOT NULL,
    currency           text        NOT NULL,
    quantity           numeric     NOT NULL,
    unit_price         numeric     NOT NULL,
    total              numeric     NOT NULL,
    start_date         date        NOT NULL,
    charged_periods    integer     NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT subscriptions_pkey PRIMARY KEY (tenant_id, id)
);
CREATE INDEX subscriptions_by_account ON billing.subscriptions (tenant_id, account_id, id);
CREATE INDEX subscriptions_by_bill_to ON billing.subscriptions (tenant_id, bill_to_account_id);

CREATE TABLE billing.first_paid_subscriptions (
    tenant_id       uuid NOT NULL,
    account_id      uuid NOT NULL,
    subscription_id uuid NOT NULL,
    CONSTRAINT first_paid_subscriptions_pkey PRIMARY KEY (tenant_id, account_id)
);

-- What is owed and not invoiced yet: order lines (billable once their order
-- is executed) and subscription periods. `separate` puts a sub-account's
-- charges on their own invoice of the bill-to account.
CREATE TABLE billing.charges (
    tenant_id          uuid    NOT NULL,
    id                 uuid    NOT NULL,
    account_id         uuid    NOT NULL,
    bill_to_account_id uuid    NOT NULL,
    separate           boolean NOT NULL,
    order_id           uuid,
    order_reference    text,
    subscription_id    uuid,
    product_id         text    NOT NULL,
    description        text    NOT NULL,
    currency           text    NOT NULL,
    quantity           numeric NOT NULL,
    unit_price         numeric NOT NULL,
    total              numeric NOT NULL,
    charge_date        date    NOT NULL,
    invoice_id         uuid,
    CONSTRAINT charges_pkey PRIMARY KEY (tenant_id, id)
);
CREATE INDEX charges_open ON billing.charges (tenant_id, bill_to_account_id) WHERE invoice_id IS NULL;
CREATE INDEX charges_open_by_account ON billing.charges (tenant_id, account_id) WHERE invoice_id IS NULL;
CREATE INDEX charges_by_order ON billing.charges (tenant_id, order_id) WHERE order_id IS NOT NULL;

-- The sub-account an invoice is for (separate invoices and managed copies),
-- and the product of each line (rebates count turnover by product).
ALTER TABLE billing.invoices ADD COLUMN for_account_id uuid;
ALTER TABLE billing.invoice_lines ADD COLUMN product_id text;

-- Billing runs: one tenant's accounts invoiced batch by batch; the cursor
-- and the counts move in each batch's transaction, so a run resumes where
-- it stopped.
CREATE TABLE billing.billing_runs (
    tenant_id         uuid        NOT NULL,
    id                uuid        NOT NULL,
    invoice_date      date        NOT NULL,
    post              boolean     NOT NULL,
    status            text        NOT NULL DEFAULT 'RUNNING',
    accounts_total    bigint      NOT NULL,
    accounts_done     bigint      NOT NULL DEFAULT 0,
    invoices_created  bigint      NOT NULL DEFAULT 0,
    cursor_account_id uuid,
    actor             text        NOT NULL,
    error             text        NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    CONSTRAINT billing_runs_pkey PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX billing_runs_one_running ON billing.billing_runs (tenant_id) WHERE status = 'RUNNING';
