-- A reservation billing will invoice or cancel never expires (NULL): it is
-- captured by the invoices or released by the cancellation. A held order
-- remembers that its approval reserves the same way.
ALTER TABLE credit.reservations ALTER COLUMN expires_at DROP NOT NULL;
ALTER TABLE credit.held_orders ADD COLUMN keep_until_invoiced boolean NOT NULL DEFAULT false;
