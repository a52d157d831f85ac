-- Invoices, their lines, the per-tenant invoice numbers, payments and what
-- they settled. Amounts are NUMERIC in the account's currency.

CREATE TABLE billing.invoices (
    tenant_id        uuid        NOT NULL,
    id               uuid        NOT NULL,
    account_id       uuid        NOT NULL,
    currency         text        NOT NULL,
    number           bigint,
    status           text        NOT NULL DEFAULT 'DRAFT',
    invoice_date     date        NOT NULL,
    delivery_date    date,
    due_date         date,
    total            numeric     NOT NULL,
    settled          numeric     NOT NULL DEFAULT 0 CHECK (settled >= 0 AND settled <= total),
    order_references text[]      NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    posted_at        timestamptz,
    CONSTRAINT invoices_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT invoices_number_key UNIQUE (tenant_id, number)
);
CREATE INDEX invoices_by_account ON billing.invoices (tenant_id, account_id, invoice_date, number);

CREATE TABLE billing.invoice_lines (
    tenant_id   uuid    NOT NULL,
    invoice_id  uuid    NOT NULL,
    line_number integer NOT NULL,
    description text    NOT NULL,
    quantity    numeric NOT NULL,
    unit_price  numeric NOT NULL,
    total       numeric NOT NULL,
    CONSTRAINT invoice_lines_pkey PRIMARY KEY (tenant_id, invoice_id, line_number)
);

-- The last number given per tenant: posting takes this row's lock, so
-- numbers follow posting order without gaps or duplicates.
CREATE TABLE billing.invoice_counters (
    tenant_id   uuid   PRIMARY KEY,
    last_number bigint NOT NULL
);

CREATE TABLE billing.payments (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL,
    account_id  uuid        NOT NULL,
    currency    text        NOT NULL,
    amount      numeric     NOT NULL CHECK (amount > 0),
    unallocated numeric     NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payments_pkey PRIMARY KEY (tenant_id, id)
);
CREATE INDEX payments_by_account ON billing.payments (tenant_id, account_id);

CREATE TABLE billing.allocations (
    tenant_id  uuid    NOT NULL,
    payment_id uuid    NOT NULL,
    invoice_id uuid    NOT NULL,
    amount     numeric NOT NULL CHECK (amount > 0),
    CONSTRAINT allocations_pkey PRIMARY KEY (tenant_id, payment_id, invoice_id)
);
