-- The books of the SANDBOX payment provider (used only when
-- BSS_SANDBOX_PAYMENTS is on): what it authorized and captured, the
-- references it told to retry, and its answer to each call by reference,
-- so a restart forgets nothing (a refund of a capture taken before it is
-- answered as a gateway's test mode would).
CREATE TABLE billing.sandbox_authorizations (
    id         text        NOT NULL,
    reference  text        NOT NULL,
    amount     numeric     NOT NULL,
    captured   numeric     NOT NULL DEFAULT 0,
    voided     boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sandbox_authorizations_pkey PRIMARY KEY (id),
    CONSTRAINT sandbox_authorizations_amount_check CHECK (amount > 0 AND captured >= 0 AND captured <= amount)
);

CREATE TABLE billing.sandbox_captures (
    id               text        NOT NULL,
    authorization_id text        NOT NULL REFERENCES billing.sandbox_authorizations (id),
    reference        text        NOT NULL,
    amount           numeric     NOT NULL,
    refunded         numeric     NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sandbox_captures_pkey PRIMARY KEY (id),
    CONSTRAINT sandbox_captures_amount_check CHECK (amount > 0 AND refunded >= 0 AND refunded <= amount)
);

CREATE INDEX sandbox_authorizations_reference_idx ON billing.sandbox_authorizations (reference);
CREATE INDEX sandbox_captures_authorization_idx ON billing.sandbox_captures (authorization_id);

CREATE TABLE billing.sandbox_answers (
    call       text        NOT NULL,
    reference  text        NOT NULL,
    answer     bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sandbox_answers_pkey PRIMARY KEY (call, reference)
);

CREATE TABLE billing.sandbox_retried (
    reference  text        NOT NULL,
    CONSTRAINT sandbox_retried_pkey PRIMARY KEY (reference)
);
