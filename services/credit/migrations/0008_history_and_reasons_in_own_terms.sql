-- Credit keeps the history of terms and the reasons of held orders in its
-- own terms (documents of its own types), no longer as encoded wire
-- messages. Rows an older release wrote are converted by the service when
-- it starts (see repo::convert_stored); the partial indexes find what is
-- left. An older release cannot read the new rows: scale credit to zero,
-- then roll out (README, Operations).
ALTER TABLE credit.terms_history
    ADD COLUMN change jsonb,
    ALTER COLUMN before DROP NOT NULL,
    ALTER COLUMN after DROP NOT NULL;
CREATE INDEX terms_history_to_convert ON credit.terms_history (tenant_id, id) WHERE change IS NULL;

ALTER TABLE credit.held_orders ADD COLUMN reasons_doc jsonb;
UPDATE credit.held_orders SET reasons_doc = '[]' WHERE cardinality(reasons) = 0;
CREATE INDEX held_orders_to_convert ON credit.held_orders (tenant_id, id) WHERE reasons_doc IS NULL;
