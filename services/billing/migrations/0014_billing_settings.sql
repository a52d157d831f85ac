-- The tenant's billing settings: the bank account direct deposit orders are
-- paid into (billing's own BankDetails as JSON; '{}' until set).
CREATE TABLE billing.settings (
    tenant_id    uuid        NOT NULL,
    bank_details jsonb       NOT NULL DEFAULT '{}',
    version      bigint      NOT NULL DEFAULT 1,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT settings_pkey PRIMARY KEY (tenant_id)
);
