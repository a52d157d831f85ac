-- The tries of one order's payment at checkout (one request id): each is
-- recorded before the payment provider is asked, so a retry of the same
-- amount pays under the same reference and what a try took for an order
-- that was never stored is given back by the janitor.
CREATE TABLE billing.checkout_tries (
    tenant_id       uuid        NOT NULL,
    reference       text        NOT NULL,
    number          integer     NOT NULL,
    amount          numeric     NOT NULL,
    currency        text        NOT NULL,
    account_id      uuid        NOT NULL,
    token_reference text        NOT NULL,
    state           text        NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT checkout_tries_pkey PRIMARY KEY (tenant_id, reference, number),
    CONSTRAINT checkout_tries_number_check CHECK (number >= 1),
    CONSTRAINT checkout_tries_amount_check CHECK (amount > 0),
    CONSTRAINT checkout_tries_state_check
        CHECK (state IN ('PAYING', 'UNKNOWN', 'NOT_TAKEN', 'TAKEN', 'USED', 'ORPHANED', 'GIVING_BACK', 'GIVEN_BACK'))
);

-- The janitor's question: the tries that may hold money no order has.
CREATE INDEX checkout_tries_unsettled_idx ON billing.checkout_tries (updated_at)
    WHERE state IN ('PAYING', 'UNKNOWN', 'TAKEN', 'ORPHANED', 'GIVING_BACK');
