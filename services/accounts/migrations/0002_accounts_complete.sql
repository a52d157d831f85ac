-- The accounts context made whole: lifecycle and history, managed copies,
-- provisioning sync, address validation results, users and sales reps,
-- groups, custom field definitions.

ALTER TABLE accounts.accounts
    ADD COLUMN status_reason           text    NOT NULL DEFAULT '',
    -- The group parent whose change set this status, when it cascaded.
    ADD COLUMN status_cause_account_id uuid,
    ADD COLUMN system_account          boolean NOT NULL DEFAULT false,
    -- A managed copy: the tenant reseller (an account of this tenant), its
    -- name for the ribbon, and the fields only the sync may change.
    ADD COLUMN managed_by_account_id   uuid,
    ADD COLUMN managed_by_name         text    NOT NULL DEFAULT '',
    ADD COLUMN locked_fields           text[]  NOT NULL DEFAULT '{}',
    ADD COLUMN sync_options            text[]  NOT NULL DEFAULT '{}',
    ADD CONSTRAINT accounts_managed_by_fkey FOREIGN KEY (tenant_id, managed_by_account_id)
        REFERENCES accounts.accounts (tenant_id, id);

CREATE INDEX accounts_managed_by_idx ON accounts.accounts (tenant_id, managed_by_account_id)
    WHERE managed_by_account_id IS NOT NULL;

-- Every status change and every edit, newest first per account.
CREATE TABLE accounts.account_history (
    id          bigserial   NOT NULL,
    tenant_id   uuid        NOT NULL,
    account_id  uuid        NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL,
    action      text        NOT NULL,
    changes     jsonb       NOT NULL DEFAULT '[]',
    reason      text        NOT NULL DEFAULT '',
    CONSTRAINT account_history_pkey PRIMARY KEY (id)
);

CREATE INDEX account_history_account_idx ON accounts.account_history (tenant_id, account_id, id DESC);

-- What the validator said when the address was last created or changed.
ALTER TABLE accounts.addresses ADD COLUMN validation jsonb;

CREATE TABLE accounts.users (
    id           uuid        NOT NULL,
    tenant_id    uuid        NOT NULL,
    account_id   uuid        NOT NULL,
    email        text        NOT NULL,
    email_key    text        NOT NULL,
    display_name text        NOT NULL,
    sales_rep_id text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_email_key UNIQUE (tenant_id, email_key),
    CONSTRAINT users_account_id_fkey FOREIGN KEY (tenant_id, account_id)
        REFERENCES accounts.accounts (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX users_account_id_idx ON accounts.users (tenant_id, account_id, id);

-- Group membership: a member is in at most one group (the key); a parent
-- with members cannot be deleted.
CREATE TABLE accounts.group_members (
    tenant_id        uuid        NOT NULL,
    member_id        uuid        NOT NULL,
    parent_id        uuid        NOT NULL,
    funding_scope    text        NOT NULL,
    product_ids      text[]      NOT NULL DEFAULT '{}',
    product_types    text[]      NOT NULL DEFAULT '{}',
    product_families text[]      NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT group_members_pkey PRIMARY KEY (tenant_id, member_id),
    CONSTRAINT group_members_member_fkey FOREIGN KEY (tenant_id, member_id)
        REFERENCES accounts.accounts (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT group_members_parent_fkey FOREIGN KEY (tenant_id, parent_id)
        REFERENCES accounts.accounts (tenant_id, id),
    CONSTRAINT group_members_not_self_check CHECK (member_id <> parent_id),
    CONSTRAINT group_members_funding_scope_check CHECK (funding_scope IN ('full', 'partial'))
);

CREATE INDEX group_members_parent_idx ON accounts.group_members (tenant_id, parent_id, created_at);

CREATE TABLE accounts.custom_field_definitions (
    tenant_id  uuid        NOT NULL,
    key        text        NOT NULL,
    label      text        NOT NULL,
    field_type text        NOT NULL,
    choices    text[]      NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT custom_field_definitions_pkey PRIMARY KEY (tenant_id, key),
    CONSTRAINT custom_field_definitions_type_check
        CHECK (field_type IN ('text', 'number', 'date', 'boolean', 'choice'))
);
