-- The IANA time zone each tenant's people read dates in.
ALTER TABLE accounts.tenants ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';
