-- A platform administrator may suspend a tenant: every service refuses its
-- users' calls while it is suspended.
ALTER TABLE accounts.tenants ADD COLUMN status text NOT NULL DEFAULT 'ACTIVE';
ALTER TABLE accounts.tenants ADD COLUMN suspend_reason text NOT NULL DEFAULT '';
ALTER TABLE accounts.tenants ADD CONSTRAINT tenants_status_check CHECK (status IN ('ACTIVE', 'SUSPENDED'));
