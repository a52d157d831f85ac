-- What a tenant's residential accounts may have (domain::tenant::
-- ResidentialFeatures as JSON); NULL until the tenant sets it: the
-- documents' defaults.
ALTER TABLE accounts.tenants ADD COLUMN residential_features jsonb;
