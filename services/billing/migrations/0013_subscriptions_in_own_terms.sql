-- Subscriptions in billing's own terms, as orders (0012): the subscription
-- as a JSON document of billing's Subscription; its status already used
-- billing's own codes. Rows stored before as encoded wire messages keep
-- `body` until the service converts them at start
-- (repo::convert_encoded) and clears it.
ALTER TABLE billing.subscriptions ADD COLUMN doc jsonb;
ALTER TABLE billing.subscriptions ALTER COLUMN body DROP NOT NULL;
ALTER TABLE billing.subscriptions ADD CONSTRAINT subscriptions_stored_check CHECK (doc IS NOT NULL OR body IS NOT NULL);
-- What is left to convert, found without scanning the table.
CREATE INDEX subscriptions_to_convert ON billing.subscriptions (tenant_id, id) WHERE doc IS NULL;
