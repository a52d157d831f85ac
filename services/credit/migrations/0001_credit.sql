-- The credit context. Amounts are NUMERIC in the account's currency.

-- A tenant's settings; a tenant without a row has the defaults.
CREATE TABLE credit.settings (
    tenant_id                  uuid        PRIMARY KEY,
    default_credit_period_days integer     NOT NULL,
    min_credit_period_days     integer     NOT NULL,
    max_credit_period_days     integer     NOT NULL,
    default_credit_limit       numeric     NOT NULL,
    on_hold_action             text        NOT NULL,
    out_of_terms_action        text        NOT NULL,
    out_of_credit_action       text        NOT NULL,
    notification_thresholds    numeric[]   NOT NULL DEFAULT '{}',
    auto_suspend_over_percent  numeric,
    reservation_ttl_seconds    bigint      NOT NULL,
    held_order_ttl_seconds     bigint      NOT NULL,
    updated_at                 timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE credit.ratings (
    tenant_id            uuid    NOT NULL,
    code                 text    NOT NULL,
    name                 text    NOT NULL DEFAULT '',
    default_credit_limit numeric,
    CONSTRAINT ratings_pkey PRIMARY KEY (tenant_id, code)
);

CREATE TABLE credit.override_rules (
    tenant_id      uuid        NOT NULL,
    id             uuid        NOT NULL,
    event_kind     text        NOT NULL,
    classification text        NOT NULL DEFAULT '',
    credit_rating  text        NOT NULL DEFAULT '',
    kyc_profile    text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT override_rules_pkey PRIMARY KEY (tenant_id, id)
);

-- One row per account credit has met: its terms and its position. The
-- limit is guarded on this row: every change of `reserved` or `balance`
-- takes its lock.
CREATE TABLE credit.accounts (
    tenant_id            uuid        NOT NULL,
    account_id           uuid        NOT NULL,
    currency             text        NOT NULL,
    credit_limit         numeric     NOT NULL,
    unlimited            boolean     NOT NULL DEFAULT false,
    credit_rating        text        NOT NULL DEFAULT '',
    terms_kind           text        NOT NULL DEFAULT 'UNSPECIFIED',
    terms_days           integer     NOT NULL DEFAULT 0,
    terms_day_of_month   integer     NOT NULL DEFAULT 0,
    -- NULL: the tenant's default period.
    credit_period_days   integer,
    classification       text        NOT NULL DEFAULT '',
    kyc_profile          text        NOT NULL DEFAULT '',
    -- NULL: the tenant's default action.
    on_hold_action       text,
    out_of_terms_action  text,
    out_of_credit_action text,
    balance              numeric     NOT NULL DEFAULT 0,
    reserved             numeric     NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    on_hold              boolean     NOT NULL DEFAULT false,
    hold_reason          text        NOT NULL DEFAULT '',
    overdue_invoices     integer     NOT NULL DEFAULT 0,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accounts_pkey PRIMARY KEY (tenant_id, account_id)
);

-- Every change of an account's terms: the terms before and after, as
-- encoded bss.credit.v1.CreditTerms.
CREATE TABLE credit.terms_history (
    tenant_id  uuid        NOT NULL,
    account_id uuid        NOT NULL,
    id         uuid        NOT NULL,
    before     bytea       NOT NULL,
    after      bytea       NOT NULL,
    reason     text        NOT NULL,
    actor      text        NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT terms_history_pkey PRIMARY KEY (tenant_id, account_id, id)
);

CREATE TABLE credit.reservations (
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL,
    account_id      uuid        NOT NULL,
    order_reference text        NOT NULL,
    amount          numeric     NOT NULL CHECK (amount > 0),
    state           text        NOT NULL DEFAULT 'OPEN',
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    closed_at       timestamptz,
    CONSTRAINT reservations_pkey PRIMARY KEY (tenant_id, id)
);
CREATE INDEX reservations_by_account ON credit.reservations (tenant_id, account_id, id);
CREATE INDEX reservations_open_by_order ON credit.reservations (tenant_id, account_id, order_reference)
    WHERE state = 'OPEN';
CREATE INDEX reservations_open_by_expiry ON credit.reservations (expires_at) WHERE state = 'OPEN';

CREATE TABLE credit.held_orders (
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL,
    account_id      uuid        NOT NULL,
    order_reference text        NOT NULL,
    amount          numeric     NOT NULL,
    payment_type    text        NOT NULL,
    -- Encoded bss.credit.v1.DecisionReason, one per element.
    reasons         bytea[]     NOT NULL DEFAULT '{}',
    state           text        NOT NULL DEFAULT 'PENDING',
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    decided_at      timestamptz,
    decided_by      text        NOT NULL DEFAULT '',
    note            text        NOT NULL DEFAULT '',
    reservation_id  uuid,
    CONSTRAINT held_orders_pkey PRIMARY KEY (tenant_id, id)
);
CREATE INDEX held_orders_pending_by_expiry ON credit.held_orders (expires_at) WHERE state = 'PENDING';

-- Invoices of each account past due and not settled (billing's events).
CREATE TABLE credit.overdue_invoices (
    tenant_id  uuid NOT NULL,
    invoice_id uuid NOT NULL,
    account_id uuid NOT NULL,
    CONSTRAINT overdue_invoices_pkey PRIMARY KEY (tenant_id, invoice_id)
);
