-- The documents' "Last Updated" (when an import last created or changed the
-- account) and "User Created For Account".
ALTER TABLE accounts.accounts ADD COLUMN last_import_at timestamptz;
UPDATE accounts.accounts SET last_import_at = created_at WHERE created_by_import;
ALTER TABLE accounts.accounts ADD COLUMN user_created_for_account boolean NOT NULL DEFAULT false;
