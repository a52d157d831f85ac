-- When an account's pricing was last set: its etag, so two people setting
-- it never overwrite each other unseen. NULL for pricing set before.
ALTER TABLE pricing.account_pricing ADD COLUMN updated_at timestamptz;
