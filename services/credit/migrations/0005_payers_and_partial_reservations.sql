-- What of a reservation is still held: invoices capture parts of it (a back
-- order invoiced after the rest) and cancellations release parts (a back
-- order's line cancelled). A reservation is OPEN exactly while some of it
-- is held.
ALTER TABLE credit.reservations ADD COLUMN open_amount numeric;
UPDATE credit.reservations SET open_amount = CASE WHEN state = 'OPEN' THEN amount ELSE 0 END;
ALTER TABLE credit.reservations ALTER COLUMN open_amount SET NOT NULL;
ALTER TABLE credit.reservations ADD CONSTRAINT reservations_open_amount_check
    CHECK (open_amount >= 0 AND open_amount <= amount AND (state = 'OPEN') = (open_amount > 0));
-- Cancelling an order releases its reservations on every payer.
CREATE INDEX reservations_open_by_reference ON credit.reservations (tenant_id, order_reference)
    WHERE state = 'OPEN';

-- Who pays a held order, each with its share; approval reserves each share
-- on its payer. Orders held before payers existed were paid by their
-- account alone.
CREATE TABLE credit.held_order_payers (
    tenant_id      uuid    NOT NULL,
    held_order_id  uuid    NOT NULL,
    position       integer NOT NULL,
    account_id     uuid    NOT NULL,
    amount         numeric NOT NULL CHECK (amount > 0),
    reservation_id uuid,
    CONSTRAINT held_order_payers_pkey PRIMARY KEY (tenant_id, held_order_id, position)
);
INSERT INTO credit.held_order_payers (tenant_id, held_order_id, position, account_id, amount, reservation_id)
SELECT tenant_id, id, 0, account_id, amount, reservation_id FROM credit.held_orders;
CREATE INDEX held_order_payers_by_account ON credit.held_order_payers (tenant_id, account_id);
CREATE INDEX held_orders_pending_by_reference ON credit.held_orders (tenant_id, order_reference)
    WHERE state = 'PENDING';
CREATE INDEX held_orders_pending_by_account ON credit.held_orders (tenant_id, account_id)
    WHERE state = 'PENDING';
