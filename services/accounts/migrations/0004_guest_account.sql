-- The tenant's generic account for guests: anonymous callers quote at its
-- prices. No foreign key: the account is checked when it is named, and a
-- deleted one makes guests' quotes fail with GUEST_ACCOUNT_MISSING.
ALTER TABLE accounts.tenants ADD COLUMN guest_account_id uuid;
