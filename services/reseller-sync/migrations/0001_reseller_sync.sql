-- Links of reseller tenants to their distributors, and the copies made:
-- one per reseller customer, whatever replays or restarts happen.
CREATE TABLE reseller_sync.links (
    reseller_tenant_id         uuid        PRIMARY KEY,
    distributor_tenant_id      uuid        NOT NULL,
    tenant_reseller_account_id uuid        NOT NULL,
    reseller_name              text        NOT NULL,
    separate_invoices          boolean     NOT NULL,
    currency_code              text        NOT NULL,
    responsible_user           text        NOT NULL,
    sharing_rule               text        NOT NULL,
    created_at                 timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX links_by_distributor ON reseller_sync.links (distributor_tenant_id, created_at);

CREATE TABLE reseller_sync.copies (
    reseller_tenant_id  uuid        NOT NULL,
    reseller_account_id uuid        NOT NULL,
    copy_account_id     uuid        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT copies_pkey PRIMARY KEY (reseller_tenant_id, reseller_account_id)
);

-- When the last applied event of each stream happened at its source, and
-- when the sync applied it.
CREATE TABLE reseller_sync.stream_times (
    stream      text        PRIMARY KEY,
    occurred_at timestamptz NOT NULL,
    applied_at  timestamptz NOT NULL
);
