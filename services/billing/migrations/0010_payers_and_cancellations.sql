-- Subscriptions are authorized by credit like orders: their status and the
-- reference credit knows the activation by (its first period's charge
-- carries it, so that invoice captures the reservation), and the held order
-- of one held for approval.
ALTER TABLE billing.subscriptions ADD COLUMN status text;
UPDATE billing.subscriptions SET status = CASE WHEN cancelled_on IS NULL THEN 'ACTIVE' ELSE 'CANCELLED' END;
ALTER TABLE billing.subscriptions ALTER COLUMN status SET NOT NULL;
ALTER TABLE billing.subscriptions ADD COLUMN reference text;
ALTER TABLE billing.subscriptions ADD COLUMN held_order_id uuid;
CREATE INDEX subscriptions_by_held_order ON billing.subscriptions (tenant_id, held_order_id)
    WHERE held_order_id IS NOT NULL;

-- Voided drafts, and why.
ALTER TABLE billing.invoices ADD COLUMN void_reason text;

-- How much of each invoice line credit notes credited: never more than the
-- line's total.
ALTER TABLE billing.invoice_lines ADD COLUMN credited numeric NOT NULL DEFAULT 0;
ALTER TABLE billing.invoice_lines ADD CONSTRAINT invoice_lines_credited_check
    CHECK (credited >= 0 AND credited <= total);

-- Adjustments of kind REFUND pay back credit the account held (they raise
-- the balance); what of each credit a refund consumed.
CREATE TABLE billing.refund_sources (
    tenant_id   uuid    NOT NULL,
    refund_id   uuid    NOT NULL,
    source_id   uuid    NOT NULL,
    amount      numeric NOT NULL CHECK (amount > 0),
    CONSTRAINT refund_sources_pkey PRIMARY KEY (tenant_id, refund_id, source_id)
);
CREATE INDEX payments_with_credit ON billing.payments (tenant_id, account_id) WHERE unallocated > 0;
CREATE INDEX adjustments_with_credit ON billing.adjustments (tenant_id, account_id) WHERE unallocated > 0;
