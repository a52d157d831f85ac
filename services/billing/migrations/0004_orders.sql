-- Orders as placed: the priced order, encoded (bss.billing.v1.Order), with
-- the columns listings filter on.
CREATE TABLE billing.orders (
    tenant_id  uuid        NOT NULL,
    id         uuid        NOT NULL,
    account_id uuid        NOT NULL,
    status     text        NOT NULL,
    body       bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_pkey PRIMARY KEY (tenant_id, id)
);
CREATE INDEX orders_by_account ON billing.orders (tenant_id, account_id, id);
