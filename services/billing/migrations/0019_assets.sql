-- Assets: the physical goods an account holds or held. `account_id` holds
-- it now (or last); `bought_by` bought it and stays liable (NULL for an
-- item the customer owns, imported). A serial number belongs to one held
-- asset of a product in a tenant (a unit returned and sold again is a new
-- asset with the same serial).
CREATE TABLE billing.assets (
    tenant_id      uuid        NOT NULL,
    id             uuid        NOT NULL,
    account_id     uuid        NOT NULL,
    bought_by      uuid,
    order_id       uuid,
    line_number    integer,
    product_id     text        NOT NULL,
    product_code   text        NOT NULL,
    quantity       numeric     NOT NULL CHECK (quantity > 0),
    traceable      boolean     NOT NULL,
    serial_number  text,
    warranty_end   date,
    customer_owned boolean     NOT NULL,
    status         text        NOT NULL CHECK (status IN ('ACTIVE', 'RETURNED', 'CANCELLED')),
    location_id    uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT assets_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT assets_bought_or_owned CHECK (customer_owned = (bought_by IS NULL)),
    CONSTRAINT assets_serial_traceable CHECK (serial_number IS NULL OR traceable OR customer_owned)
);
CREATE UNIQUE INDEX assets_serial_key ON billing.assets (tenant_id, product_id, serial_number)
    WHERE serial_number IS NOT NULL AND status = 'ACTIVE';
CREATE INDEX assets_of_account ON billing.assets (tenant_id, account_id, id);
CREATE INDEX assets_of_order ON billing.assets (tenant_id, order_id) WHERE order_id IS NOT NULL;

-- Every change of an asset, in the order it happened; an account's past
-- assets are the ones whose history names it.
CREATE TABLE billing.asset_events (
    seq             bigint      GENERATED ALWAYS AS IDENTITY,
    tenant_id       uuid        NOT NULL,
    asset_id        uuid        NOT NULL,
    kind            text        NOT NULL
        CHECK (kind IN ('BOUGHT', 'IMPORTED', 'TRANSFERRED', 'RETURNED', 'SERIAL_RECORDED', 'CANCELLED')),
    from_account_id uuid,
    to_account_id   uuid,
    location_id     uuid,
    reason          text        NOT NULL DEFAULT '',
    actor           text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT asset_events_pkey PRIMARY KEY (tenant_id, seq),
    CONSTRAINT asset_events_asset_fkey FOREIGN KEY (tenant_id, asset_id) REFERENCES billing.assets (tenant_id, id)
);
CREATE INDEX asset_events_of_asset ON billing.asset_events (tenant_id, asset_id, seq);
CREATE INDEX asset_events_from ON billing.asset_events (tenant_id, from_account_id, asset_id)
    WHERE from_account_id IS NOT NULL;
CREATE INDEX asset_events_to ON billing.asset_events (tenant_id, to_account_id, asset_id)
    WHERE to_account_id IS NOT NULL;
