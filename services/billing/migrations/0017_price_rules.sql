-- Which of pricing's rules priced each charge and invoice line (the name
-- of bss.pricing.v1.PriceRule, or PRICE_RULE_KEPT with a note when pricing
-- could not price a subscription period and its previous price was kept),
-- its source and the day it was priced on. A subscription keeps the rule
-- of its latest priced period. Rows from before are left empty.
ALTER TABLE billing.charges ADD COLUMN price_rule text NOT NULL DEFAULT '';
ALTER TABLE billing.charges ADD COLUMN price_source_id text NOT NULL DEFAULT '';
ALTER TABLE billing.charges ADD COLUMN priced_on date;
ALTER TABLE billing.charges ADD COLUMN price_note text NOT NULL DEFAULT '';
ALTER TABLE billing.invoice_lines ADD COLUMN price_rule text NOT NULL DEFAULT '';
ALTER TABLE billing.invoice_lines ADD COLUMN price_source_id text NOT NULL DEFAULT '';
ALTER TABLE billing.invoice_lines ADD COLUMN priced_on date;
ALTER TABLE billing.invoice_lines ADD COLUMN price_note text NOT NULL DEFAULT '';
ALTER TABLE billing.subscriptions ADD COLUMN price_rule text NOT NULL DEFAULT '';
ALTER TABLE billing.subscriptions ADD COLUMN price_source_id text NOT NULL DEFAULT '';
