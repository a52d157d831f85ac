-- A contract's history: its creation and every change, with who made it,
-- why, and each field before and after (a JSON array of
-- {field, before, after}).
CREATE TABLE pricing.contract_history (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL,
    contract_id uuid        NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL,
    reason      text        NOT NULL DEFAULT '',
    changes     jsonb       NOT NULL,
    CONSTRAINT contract_history_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT contract_history_contract_fkey FOREIGN KEY (tenant_id, contract_id)
        REFERENCES pricing.contracts (tenant_id, id)
);
CREATE INDEX contract_history_of_contract ON pricing.contract_history (tenant_id, contract_id, id);
