-- The prefix indexes carry the account's id, so a search by prefix reads
-- its matches' ids from the index alone (an index-only scan) and looks up
-- only the page it returns, not every match (over a million accounts a
-- 3-character code prefix matches hundreds).
CREATE INDEX accounts_code_prefix_id_idx ON accounts.accounts (tenant_id, code text_pattern_ops) INCLUDE (id);
CREATE INDEX accounts_name_prefix_id_idx ON accounts.accounts (tenant_id, name_key text_pattern_ops) INCLUDE (id);
DROP INDEX accounts.accounts_code_prefix_idx;
DROP INDEX accounts.accounts_name_prefix_idx;
