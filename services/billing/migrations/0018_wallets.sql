-- Wallets: money an account keeps in advance, at most one per account, in
-- the account's currency. The balance never goes below zero: a payment
-- takes money with a conditional update, and the check is the last guard.
CREATE TABLE billing.wallets (
    tenant_id             uuid        NOT NULL,
    account_id            uuid        NOT NULL,
    currency              text        NOT NULL,
    balance               numeric     NOT NULL DEFAULT 0 CHECK (balance >= 0),
    use_for_purchases     boolean     NOT NULL,
    use_for_subscriptions boolean     NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT wallets_pkey PRIMARY KEY (tenant_id, account_id)
);

-- Every movement of a wallet's money, with the balance it left. `seq` is
-- taken while the wallet's row is locked, so it orders each wallet's
-- movements as its balance saw them (ids are made before the lock).
CREATE TABLE billing.wallet_transactions (
    seq           bigint      GENERATED ALWAYS AS IDENTITY,
    tenant_id     uuid        NOT NULL,
    id            uuid        NOT NULL,
    account_id    uuid        NOT NULL,
    kind          text        NOT NULL
        CHECK (kind IN ('TOP_UP', 'ORDER_PAYMENT', 'INVOICE_PAYMENT', 'ORDER_REFUND')),
    amount        numeric     NOT NULL CHECK (amount > 0),
    balance_after numeric     NOT NULL CHECK (balance_after >= 0),
    order_id      uuid,
    payment_id    uuid,
    reason        text        NOT NULL DEFAULT '',
    actor         text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT wallet_transactions_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT wallet_transactions_wallet_fkey FOREIGN KEY (tenant_id, account_id)
        REFERENCES billing.wallets (tenant_id, account_id)
);
CREATE INDEX wallet_transactions_of_account ON billing.wallet_transactions (tenant_id, account_id, seq DESC);
