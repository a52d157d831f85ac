-- Metered usage (issue 23): every usage event recorded against a metric of
-- a subscription, once per idempotency key (the primary key: an event sent
-- again is not stored again), read per subscription, metric and time range
-- when a period's quantity is aggregated.
CREATE TABLE billing.usage_events (
    tenant_id       uuid        NOT NULL,
    subscription_id uuid        NOT NULL,
    metric          text        NOT NULL,
    key             text        NOT NULL,
    quantity        numeric     NOT NULL CHECK (quantity >= 0),
    at              timestamptz NOT NULL,
    property        text        NOT NULL DEFAULT '',
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, subscription_id, metric, key)
);
CREATE INDEX usage_events_by_time ON billing.usage_events (tenant_id, subscription_id, metric, at);
