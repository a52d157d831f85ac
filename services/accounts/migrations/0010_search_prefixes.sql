-- Account search by the start of the code or of the name (ListAccounts
-- code_prefix, name_prefix): byte-order indexes, so a prefix is a range
-- scan whatever the database's collation and whatever the prefix (the
-- query compares with ~>=~ and ~<~, which a prepared statement can run on
-- these indexes).
CREATE INDEX accounts_code_prefix_idx ON accounts.accounts (tenant_id, code text_pattern_ops);
CREATE INDEX accounts_name_prefix_idx ON accounts.accounts (tenant_id, name_key text_pattern_ops);
