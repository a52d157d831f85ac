-- The documents' multi-currency setting and each country's currency, per
-- tenant; an account's home country. Tenants created before the setting
-- existed could open accounts in any currency: they keep it on.
ALTER TABLE accounts.tenants ADD COLUMN multi_currency boolean NOT NULL DEFAULT false;
UPDATE accounts.tenants SET multi_currency = true;
ALTER TABLE accounts.tenants ADD COLUMN currency_by_country jsonb NOT NULL DEFAULT '{}';
ALTER TABLE accounts.accounts ADD COLUMN country_code text NOT NULL DEFAULT '';
