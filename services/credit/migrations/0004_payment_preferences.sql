-- Each account's payment preference: a card token reference (never card
-- data) and what it is opted in for.
CREATE TABLE credit.payment_preferences (
    tenant_id             uuid        NOT NULL,
    account_id            uuid        NOT NULL,
    card_token_reference  text        NOT NULL,
    card_label            text        NOT NULL DEFAULT '',
    use_for_subscriptions boolean     NOT NULL DEFAULT false,
    use_for_purchases     boolean     NOT NULL DEFAULT false,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payment_preferences_pkey PRIMARY KEY (tenant_id, account_id)
);
