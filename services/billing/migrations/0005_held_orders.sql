-- Credit's held order behind an order held for approval, so credit's
-- decision finds its order.
ALTER TABLE billing.orders ADD COLUMN held_order_id uuid;
CREATE INDEX orders_by_held_order ON billing.orders (tenant_id, held_order_id) WHERE held_order_id IS NOT NULL;
