-- Credit's decision of a held order that billing has not stored yet (its
-- PlaceOrder or CreateSubscription had not committed, or is retried):
-- kept until the order or subscription is stored, which then applies it.
-- Both sides take the held order's advisory lock, so neither misses the
-- other.
CREATE TABLE billing.held_decisions (
    tenant_id       uuid        NOT NULL,
    held_order_id   uuid        NOT NULL,
    approved        boolean     NOT NULL,
    reservation_ids text[]      NOT NULL DEFAULT '{}',
    reservation_id  text        NOT NULL DEFAULT '',
    decided_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT held_decisions_pkey PRIMARY KEY (tenant_id, held_order_id)
);
