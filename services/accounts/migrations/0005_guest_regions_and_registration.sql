-- Guest accounts per region and registration profiles: each a map from its
-- code to one of the tenant's accounts (checked when it is named, as the
-- guest account is).
ALTER TABLE accounts.tenants ADD COLUMN guest_regions jsonb NOT NULL DEFAULT '{}';
ALTER TABLE accounts.tenants ADD COLUMN registration_profiles jsonb NOT NULL DEFAULT '{}';
