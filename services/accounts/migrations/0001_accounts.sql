-- The accounts context: tenants, accounts, contacts, addresses.
-- Every table carries tenant_id; every query filters by it.

-- Tenants are never changed or deleted after creation (their name
-- uniqueness scope decides where every account name lives), so services may
-- cache them and accounts need no foreign key to them: a key check would
-- make every insert of a tenant share-lock the same tenant row.
CREATE TABLE accounts.tenants (
    id                    uuid        NOT NULL,
    name                  text        NOT NULL,
    default_currency      text        NOT NULL,
    parent_tenant_id      uuid,
    name_uniqueness_scope text        NOT NULL DEFAULT 'tenant',
    created_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenants_pkey PRIMARY KEY (id),
    CONSTRAINT tenants_parent_tenant_id_fkey FOREIGN KEY (parent_tenant_id) REFERENCES accounts.tenants (id),
    CONSTRAINT tenants_default_currency_check CHECK (default_currency ~ '^[A-Z]{3}$'),
    CONSTRAINT tenants_name_uniqueness_scope_check CHECK (name_uniqueness_scope IN ('tenant', 'parent_tenant'))
);

CREATE INDEX tenants_parent_tenant_id_idx ON accounts.tenants (parent_tenant_id, id);

CREATE TABLE accounts.accounts (
    id                uuid        NOT NULL,
    tenant_id         uuid        NOT NULL,
    code              text        NOT NULL,
    external_key      text,
    name              text        NOT NULL,
    -- The name as compared for uniqueness: trimmed, lower case.
    name_key          text        NOT NULL,
    -- The tenant whose accounts this name must differ from: the account's
    -- own tenant, or its parent tenant when the tenant shares a name space.
    name_scope        uuid        NOT NULL,
    kind              text        NOT NULL,
    profile           text        NOT NULL,
    status            text        NOT NULL DEFAULT 'active',
    is_active         boolean     NOT NULL DEFAULT true,
    tax_number        text        NOT NULL DEFAULT '',
    contact_name      text        NOT NULL DEFAULT '',
    email             text        NOT NULL DEFAULT '',
    billing_email     text        NOT NULL DEFAULT '',
    sales_rep_id      text        NOT NULL DEFAULT '',
    account_class     text        NOT NULL DEFAULT '',
    territory         text        NOT NULL DEFAULT '',
    shipping_method   text        NOT NULL DEFAULT '',
    enable_ordering   boolean     NOT NULL DEFAULT false,
    payment_types     text[]      NOT NULL DEFAULT '{}',
    separate_invoices boolean     NOT NULL DEFAULT false,
    parent_account_id uuid,
    responsible_user  text        NOT NULL DEFAULT '',
    sharing_rule      text        NOT NULL DEFAULT '',
    currency_code     text        NOT NULL,
    custom_fields     jsonb       NOT NULL DEFAULT '{}',
    created_by_import boolean     NOT NULL DEFAULT false,
    created_by        text        NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    version           bigint      NOT NULL DEFAULT 1,
    -- Every lookup names the tenant: the key leads with it, and the parent
    -- must be an account of the same tenant.
    CONSTRAINT accounts_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT accounts_parent_account_id_fkey FOREIGN KEY (tenant_id, parent_account_id)
        REFERENCES accounts.accounts (tenant_id, id),
    CONSTRAINT accounts_code_key UNIQUE (tenant_id, code),
    CONSTRAINT accounts_name_key UNIQUE (name_scope, name_key),
    CONSTRAINT accounts_kind_check CHECK (kind IN ('direct', 'client', 'reseller')),
    CONSTRAINT accounts_profile_check CHECK (profile IN ('normal', 'residential')),
    CONSTRAINT accounts_status_check CHECK (status IN ('active', 'suspended', 'terminated')),
    CONSTRAINT accounts_currency_code_check CHECK (currency_code ~ '^[A-Z]{3}$'),
    CONSTRAINT accounts_payment_types_check CHECK (payment_types <@ ARRAY['AC', 'CC', 'PP', 'DD', 'RQ']),
    CONSTRAINT accounts_not_own_parent_check CHECK (parent_account_id IS DISTINCT FROM id)
);

CREATE INDEX accounts_external_key_idx ON accounts.accounts (tenant_id, external_key) WHERE external_key IS NOT NULL;
CREATE INDEX accounts_sales_rep_id_idx ON accounts.accounts (tenant_id, sales_rep_id, id) WHERE sales_rep_id <> '';
CREATE INDEX accounts_parent_account_id_idx ON accounts.accounts (tenant_id, parent_account_id)
    WHERE parent_account_id IS NOT NULL;

CREATE TABLE accounts.contacts (
    id         uuid        NOT NULL,
    tenant_id  uuid        NOT NULL,
    account_id uuid        NOT NULL,
    first_name text        NOT NULL DEFAULT '',
    last_name  text        NOT NULL DEFAULT '',
    email      text        NOT NULL DEFAULT '',
    phone      text        NOT NULL DEFAULT '',
    roles      text[]      NOT NULL DEFAULT '{}',
    is_primary boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT contacts_pkey PRIMARY KEY (id),
    CONSTRAINT contacts_account_id_fkey FOREIGN KEY (tenant_id, account_id)
        REFERENCES accounts.accounts (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX contacts_account_id_idx ON accounts.contacts (account_id, id);
CREATE UNIQUE INDEX contacts_one_primary_key ON accounts.contacts (account_id) WHERE is_primary;

CREATE TABLE accounts.addresses (
    id           uuid        NOT NULL,
    tenant_id    uuid        NOT NULL,
    account_id   uuid        NOT NULL,
    address_type text        NOT NULL,
    lines        text[]      NOT NULL,
    city         text        NOT NULL DEFAULT '',
    region       text        NOT NULL DEFAULT '',
    postal_code  text        NOT NULL DEFAULT '',
    country_code text        NOT NULL,
    contact_id   uuid,
    is_primary   boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT addresses_pkey PRIMARY KEY (id),
    CONSTRAINT addresses_account_id_fkey FOREIGN KEY (tenant_id, account_id)
        REFERENCES accounts.accounts (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT addresses_contact_id_fkey FOREIGN KEY (contact_id) REFERENCES accounts.contacts (id) ON DELETE SET NULL,
    CONSTRAINT addresses_address_type_check CHECK (address_type IN ('billing', 'delivery', 'other'))
);

CREATE INDEX addresses_account_id_idx ON accounts.addresses (account_id, id);
CREATE UNIQUE INDEX addresses_one_primary_key ON accounts.addresses (account_id) WHERE is_primary;
