-- The tenant's master rate plan: at most one pricelist per tenant is
-- marked (the default rate plan of accounts without one of their own).
ALTER TABLE pricing.pricelists ADD COLUMN master boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX pricelists_one_master ON pricing.pricelists (tenant_id) WHERE master;
