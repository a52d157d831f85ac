-- A method a user of a shared account (a generic account the tenant names
-- for guests or a registration profile) saves is that user's own
-- (owner_user_id); every other method is the account's (NULL), including
-- every method saved before this migration (staff remove a shopper's card
-- saved earlier if it should not pay other shoppers' orders). Each owner
-- has its own default.
ALTER TABLE credit.payment_methods ADD COLUMN owner_user_id uuid;

DROP INDEX credit.payment_methods_one_default;
CREATE UNIQUE INDEX payment_methods_one_default ON credit.payment_methods (tenant_id, account_id)
    WHERE is_default AND owner_user_id IS NULL;
CREATE UNIQUE INDEX payment_methods_one_default_per_user ON credit.payment_methods (tenant_id, account_id, owner_user_id)
    WHERE is_default AND owner_user_id IS NOT NULL;
