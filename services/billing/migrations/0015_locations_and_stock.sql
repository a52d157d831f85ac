-- Locations orders ship from, the stock on hand at each (never negative:
-- the check is the last guard against racing orders), and the accounts
-- assigned to each (at most one primary location per account).
CREATE TABLE billing.locations (
    tenant_id          uuid        NOT NULL,
    id                 uuid        NOT NULL,
    code               text        NOT NULL,
    name               text        NOT NULL,
    kind               text        NOT NULL CHECK (kind IN ('physical', 'logical')),
    surcharge          numeric,
    surcharge_currency text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT locations_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT locations_code_key UNIQUE (tenant_id, code),
    CONSTRAINT locations_surcharge_currency CHECK ((surcharge IS NULL) = (surcharge_currency IS NULL)),
    CONSTRAINT locations_surcharge_positive CHECK (surcharge > 0)
);

CREATE TABLE billing.stock (
    tenant_id    uuid        NOT NULL,
    location_id  uuid        NOT NULL,
    product_id   text        NOT NULL,
    product_code text        NOT NULL,
    quantity     numeric     NOT NULL CHECK (quantity >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stock_pkey PRIMARY KEY (tenant_id, location_id, product_id),
    CONSTRAINT stock_location_fkey FOREIGN KEY (tenant_id, location_id) REFERENCES billing.locations (tenant_id, id)
);

CREATE TABLE billing.account_locations (
    tenant_id   uuid    NOT NULL,
    account_id  uuid    NOT NULL,
    location_id uuid    NOT NULL,
    is_primary  boolean NOT NULL,
    CONSTRAINT account_locations_pkey PRIMARY KEY (tenant_id, account_id, location_id),
    CONSTRAINT account_locations_location_fkey FOREIGN KEY (tenant_id, location_id)
        REFERENCES billing.locations (tenant_id, id)
);
CREATE UNIQUE INDEX account_locations_one_primary ON billing.account_locations (tenant_id, account_id)
    WHERE is_primary;

-- The location an order ships from, so stock received there finds the
-- back orders waiting for it.
ALTER TABLE billing.orders ADD COLUMN location_id uuid;
CREATE INDEX orders_waiting_at_location ON billing.orders (tenant_id, location_id, id)
    WHERE back_ordered AND location_id IS NOT NULL;

-- The address an invoice goes to: its latest order's billing address
-- (billing's OrderAddress as JSON).
ALTER TABLE billing.invoices ADD COLUMN billing_address jsonb;
