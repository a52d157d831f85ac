-- Usage in credit's exposure (issue 23): what billing has asked credit to
-- hold for a metered subscription's usage not invoiced yet (the running
-- period as rated, and usage charges not on a posted invoice), and whether
-- events were recorded since it was last rated (the accrual rates those).
ALTER TABLE billing.subscriptions
    ADD COLUMN usage_reserved numeric NOT NULL DEFAULT 0 CHECK (usage_reserved >= 0),
    ADD COLUMN usage_dirty    boolean NOT NULL DEFAULT false;
CREATE INDEX subscriptions_usage_dirty ON billing.subscriptions (tenant_id, id) WHERE usage_dirty;

-- A subscription's usage charges not on a posted invoice, read as its usage
-- is rated for credit.
CREATE INDEX charges_usage ON billing.charges (tenant_id, order_reference) WHERE order_reference LIKE 'usage:%';
