-- Back orders: the back-ordered part of an order line waits as a charge
-- without a charge date (never billable) until it ships; the orders with
-- some are flagged for the account enquiry.
ALTER TABLE billing.charges ALTER COLUMN charge_date DROP NOT NULL;
ALTER TABLE billing.orders ADD COLUMN back_ordered boolean NOT NULL DEFAULT false;
ALTER TABLE billing.charges ADD COLUMN order_line integer;
CREATE INDEX charges_waiting ON billing.charges (tenant_id, order_id, order_line) WHERE charge_date IS NULL;

-- Invoices held for a sub-account or managed copy, listed with its own.
CREATE INDEX invoices_for_account ON billing.invoices (tenant_id, for_account_id) WHERE for_account_id IS NOT NULL;
