-- The pricing context: products, price levels, pricelists, account pricing
-- and prices, contracts with sales terms, exchange rates, and the read
-- model of accounts it prices (from the accounts event stream).
--
-- Prices are NUMERIC with the scale they were given. A quantity break list
-- is two arrays of the same length: minimum quantities and their prices.

CREATE TABLE pricing.products (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL,
    code         text        NOT NULL,
    name         text        NOT NULL,
    product_type text        NOT NULL DEFAULT '',
    family       text        NOT NULL DEFAULT '',
    availability text        NOT NULL DEFAULT 'public',
    list_price   numeric     NOT NULL,
    currency     text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT products_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT products_code_key UNIQUE (tenant_id, code),
    CONSTRAINT products_availability_check CHECK (availability IN ('public', 'contract_only')),
    CONSTRAINT products_list_price_check CHECK (list_price >= 0)
);

CREATE TABLE pricing.price_levels (
    tenant_id uuid NOT NULL,
    id        uuid NOT NULL,
    code      text NOT NULL,
    name      text NOT NULL DEFAULT '',
    currency  text NOT NULL,
    CONSTRAINT price_levels_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT price_levels_code_key UNIQUE (tenant_id, code)
);

CREATE TABLE pricing.level_prices (
    tenant_id       uuid      NOT NULL,
    level_id        uuid      NOT NULL,
    product_id      uuid      NOT NULL,
    price           numeric   NOT NULL,
    break_minimums  numeric[] NOT NULL DEFAULT '{}',
    break_prices    numeric[] NOT NULL DEFAULT '{}',
    CONSTRAINT level_prices_pkey PRIMARY KEY (tenant_id, level_id, product_id),
    CONSTRAINT level_prices_level_fkey FOREIGN KEY (tenant_id, level_id) REFERENCES pricing.price_levels (tenant_id, id),
    CONSTRAINT level_prices_product_fkey FOREIGN KEY (tenant_id, product_id) REFERENCES pricing.products (tenant_id, id)
);

CREATE TABLE pricing.pricelists (
    tenant_id  uuid        NOT NULL,
    id         uuid        NOT NULL,
    name       text        NOT NULL,
    currency   text        NOT NULL,
    kind       text        NOT NULL DEFAULT 'pricelist',
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pricelists_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT pricelists_name_key UNIQUE (tenant_id, name),
    CONSTRAINT pricelists_kind_check CHECK (kind IN ('pricelist', 'rate_plan'))
);

CREATE TABLE pricing.pricelist_items (
    tenant_id      uuid      NOT NULL,
    id             uuid      NOT NULL,
    pricelist_id   uuid      NOT NULL,
    product_id     uuid      NOT NULL,
    price          numeric   NOT NULL,
    break_minimums numeric[] NOT NULL DEFAULT '{}',
    break_prices   numeric[] NOT NULL DEFAULT '{}',
    valid_from     date      NOT NULL,
    valid_to       date,
    CONSTRAINT pricelist_items_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT pricelist_items_pricelist_fkey FOREIGN KEY (tenant_id, pricelist_id) REFERENCES pricing.pricelists (tenant_id, id),
    CONSTRAINT pricelist_items_product_fkey FOREIGN KEY (tenant_id, product_id) REFERENCES pricing.products (tenant_id, id),
    CONSTRAINT pricelist_items_validity_check CHECK (valid_to IS NULL OR valid_to >= valid_from)
);

CREATE INDEX pricelist_items_product_idx ON pricing.pricelist_items (tenant_id, pricelist_id, product_id);

CREATE TABLE pricing.account_pricing (
    tenant_id        uuid    NOT NULL,
    account_id       uuid    NOT NULL,
    price_level_id   uuid,
    discount_percent numeric NOT NULL DEFAULT 0,
    pricelist_ids    uuid[]  NOT NULL DEFAULT '{}',
    CONSTRAINT account_pricing_pkey PRIMARY KEY (tenant_id, account_id),
    CONSTRAINT account_pricing_level_fkey FOREIGN KEY (tenant_id, price_level_id) REFERENCES pricing.price_levels (tenant_id, id),
    CONSTRAINT account_pricing_discount_check CHECK (discount_percent >= 0 AND discount_percent <= 100)
);

CREATE TABLE pricing.account_prices (
    tenant_id      uuid      NOT NULL,
    id             uuid      NOT NULL,
    account_id     uuid      NOT NULL,
    product_id     uuid      NOT NULL,
    price          numeric   NOT NULL,
    currency       text      NOT NULL,
    forced         boolean   NOT NULL DEFAULT false,
    break_minimums numeric[] NOT NULL DEFAULT '{}',
    break_prices   numeric[] NOT NULL DEFAULT '{}',
    valid_from     date      NOT NULL,
    valid_to       date,
    CONSTRAINT account_prices_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT account_prices_product_fkey FOREIGN KEY (tenant_id, product_id) REFERENCES pricing.products (tenant_id, id),
    CONSTRAINT account_prices_validity_check CHECK (valid_to IS NULL OR valid_to >= valid_from)
);

CREATE INDEX account_prices_account_idx ON pricing.account_prices (tenant_id, account_id);

CREATE TABLE pricing.contracts (
    tenant_id              uuid        NOT NULL,
    id                     uuid        NOT NULL,
    name                   text        NOT NULL,
    currency               text        NOT NULL,
    start_date             date        NOT NULL,
    expiry_date            date        NOT NULL,
    forced                 boolean     NOT NULL DEFAULT false,
    extra_discount_percent numeric     NOT NULL DEFAULT 0,
    created_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT contracts_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT contracts_dates_check CHECK (expiry_date >= start_date),
    CONSTRAINT contracts_discount_check CHECK (extra_discount_percent >= 0 AND extra_discount_percent <= 100)
);

CREATE TABLE pricing.contract_items (
    tenant_id      uuid      NOT NULL,
    contract_id    uuid      NOT NULL,
    product_id     uuid      NOT NULL,
    price          numeric   NOT NULL,
    break_minimums numeric[] NOT NULL DEFAULT '{}',
    break_prices   numeric[] NOT NULL DEFAULT '{}',
    CONSTRAINT contract_items_pkey PRIMARY KEY (tenant_id, contract_id, product_id),
    CONSTRAINT contract_items_contract_fkey FOREIGN KEY (tenant_id, contract_id) REFERENCES pricing.contracts (tenant_id, id),
    CONSTRAINT contract_items_product_fkey FOREIGN KEY (tenant_id, product_id) REFERENCES pricing.products (tenant_id, id)
);

CREATE TABLE pricing.contract_accounts (
    tenant_id   uuid NOT NULL,
    contract_id uuid NOT NULL,
    account_id  uuid NOT NULL,
    CONSTRAINT contract_accounts_pkey PRIMARY KEY (tenant_id, contract_id, account_id),
    CONSTRAINT contract_accounts_contract_fkey FOREIGN KEY (tenant_id, contract_id) REFERENCES pricing.contracts (tenant_id, id)
);

CREATE INDEX contract_accounts_account_idx ON pricing.contract_accounts (tenant_id, account_id);

-- Two rebate terms of a contract differ in scope or period.
CREATE TABLE pricing.rebate_terms (
    tenant_id      uuid      NOT NULL,
    id             uuid      NOT NULL,
    contract_id    uuid      NOT NULL,
    scope          text      NOT NULL,
    pricelist_id   uuid,
    period         text      NOT NULL,
    mode           text      NOT NULL,
    tier_from      numeric[] NOT NULL,
    tier_rates     numeric[] NOT NULL,
    CONSTRAINT rebate_terms_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT rebate_terms_contract_fkey FOREIGN KEY (tenant_id, contract_id) REFERENCES pricing.contracts (tenant_id, id),
    CONSTRAINT rebate_terms_scope_period_key UNIQUE NULLS NOT DISTINCT (tenant_id, contract_id, scope, pricelist_id, period),
    CONSTRAINT rebate_terms_scope_check CHECK (scope IN ('all_invoiced_items', 'pricelist_products')),
    CONSTRAINT rebate_terms_period_check CHECK (period IN ('month', 'quarter', 'half_year', 'year')),
    CONSTRAINT rebate_terms_mode_check CHECK (mode IN ('scale', 'continuous'))
);

CREATE TABLE pricing.exchange_rates (
    tenant_id      uuid    NOT NULL,
    from_currency  text    NOT NULL,
    to_currency    text    NOT NULL,
    effective_date date    NOT NULL,
    rate           numeric NOT NULL,
    CONSTRAINT exchange_rates_pkey PRIMARY KEY (tenant_id, from_currency, to_currency, effective_date),
    CONSTRAINT exchange_rates_rate_check CHECK (rate > 0)
);

-- The accounts pricing serves, from the accounts event stream.
CREATE TABLE pricing.accounts (
    tenant_id     uuid NOT NULL,
    account_id    uuid NOT NULL,
    currency      text NOT NULL,
    sales_rep_id  text NOT NULL DEFAULT '',
    CONSTRAINT accounts_pkey PRIMARY KEY (tenant_id, account_id)
);

CREATE TABLE pricing.group_members (
    tenant_id uuid NOT NULL,
    member_id uuid NOT NULL,
    parent_id uuid NOT NULL,
    CONSTRAINT group_members_pkey PRIMARY KEY (tenant_id, member_id)
);

-- Bumped by every write of a tenant's pricing, in its transaction: a
-- replica serves quotes from its in-memory price book only while the
-- book's version is the current one, so no quote is stale after a write
-- returns, on any replica.
CREATE TABLE pricing.book_versions (
    tenant_id uuid   NOT NULL,
    version   bigint NOT NULL,
    CONSTRAINT book_versions_pkey PRIMARY KEY (tenant_id)
);
