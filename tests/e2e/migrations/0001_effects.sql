-- The effects of the test consumer: one row per event applied. No unique
-- key on purpose: an event applied twice would show as two rows.
CREATE TABLE consumer_test.effects (
    sequence   bigint      NOT NULL,
    account_id text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
