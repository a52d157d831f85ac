-- Whether only credit managers and tenant admins decide held orders (by
-- default account managers do too).
ALTER TABLE credit.settings ADD COLUMN held_orders_credit_managers_only boolean NOT NULL DEFAULT false;
