-- Orders in billing's own terms: the order as a JSON document of billing's
-- Order (amounts as exact decimal strings, never floats), its state by
-- billing's own code instead of the wire enum's name. Orders stored before
-- as encoded wire messages (`body`) keep it until the service, at start,
-- converts them (repo::convert_encoded) and clears it.
ALTER TABLE billing.orders ADD COLUMN doc jsonb;
ALTER TABLE billing.orders ALTER COLUMN body DROP NOT NULL;
UPDATE billing.orders SET status = CASE status
    WHEN 'ORDER_STATUS_EXECUTED' THEN 'executed'
    WHEN 'ORDER_STATUS_HELD_FOR_APPROVAL' THEN 'held_for_approval'
    WHEN 'ORDER_STATUS_REJECTED' THEN 'rejected'
    WHEN 'ORDER_STATUS_RUNNING_QUOTE' THEN 'running_quote'
    WHEN 'ORDER_STATUS_CANCELLED' THEN 'cancelled'
    ELSE status END;
-- New rows only (NOT VALID): a row with a status this mapping does not
-- know is left for the conversion to read from its message.
ALTER TABLE billing.orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('executed', 'held_for_approval', 'rejected', 'running_quote', 'cancelled')) NOT VALID;
ALTER TABLE billing.orders ADD CONSTRAINT orders_stored_check CHECK (doc IS NOT NULL OR body IS NOT NULL);
-- What is left to convert, found without scanning the table.
CREATE INDEX orders_to_convert ON billing.orders (tenant_id, id) WHERE doc IS NULL;
