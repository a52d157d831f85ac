-- Credit notes and write-offs (their allocations share billing.allocations,
-- whose payment_id names the settling transaction), and when an invoice was
-- found overdue.
CREATE TABLE billing.adjustments (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL,
    account_id  uuid        NOT NULL,
    kind        text        NOT NULL,
    currency    text        NOT NULL,
    amount      numeric     NOT NULL CHECK (amount > 0),
    unallocated numeric     NOT NULL,
    reason      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT adjustments_pkey PRIMARY KEY (tenant_id, id)
);
CREATE INDEX adjustments_by_account ON billing.adjustments (tenant_id, account_id);

ALTER TABLE billing.invoices ADD COLUMN overdue_at timestamptz;
CREATE INDEX invoices_unsettled_by_due ON billing.invoices (due_date)
    WHERE status = 'POSTED' AND overdue_at IS NULL AND settled < total;
