-- Saved payment methods: several cards or wallets per account (payment
-- provider tokens, never card data), at most one default. The payment
-- preference of each account becomes its default card method.
CREATE TABLE credit.payment_methods (
    tenant_id             uuid        NOT NULL,
    id                    uuid        NOT NULL,
    account_id            uuid        NOT NULL,
    kind                  text        NOT NULL CHECK (kind IN ('card', 'wallet')),
    token_reference       text        NOT NULL,
    label                 text        NOT NULL DEFAULT '',
    is_default            boolean     NOT NULL,
    use_for_purchases     boolean     NOT NULL DEFAULT false,
    use_for_subscriptions boolean     NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payment_methods_pkey PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX payment_methods_one_default ON credit.payment_methods (tenant_id, account_id) WHERE is_default;
CREATE INDEX payment_methods_of_account ON credit.payment_methods (tenant_id, account_id, created_at);

INSERT INTO credit.payment_methods (tenant_id, id, account_id, kind, token_reference, label, is_default,
    use_for_purchases, use_for_subscriptions, created_at, updated_at)
SELECT tenant_id, gen_random_uuid(), account_id, 'card', card_token_reference, card_label, true,
    use_for_purchases, use_for_subscriptions, updated_at, updated_at
FROM credit.payment_preferences;

DROP TABLE credit.payment_preferences;
