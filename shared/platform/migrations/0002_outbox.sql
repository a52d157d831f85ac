-- The transactional outbox of a publishing service, and the cursors of a
-- consuming one. Unqualified names: the connection's search_path is the
-- service's schema.

-- An event is written in the transaction of the change it describes. Its
-- `id` follows insertion; its `sequence`, the position consumers see, is
-- given after it committed, by the single sequencer of the schema, in
-- batches: sequences follow commit order and have no gaps, so a consumer
-- that read up to N never misses an event numbered below N.
CREATE TABLE outbox (
    id          bigserial   NOT NULL,
    sequence    bigint,
    tenant_id   uuid        NOT NULL,
    event_type  text        NOT NULL,
    payload     bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT outbox_pkey PRIMARY KEY (id)
);

CREATE UNIQUE INDEX outbox_sequence_key ON outbox (sequence) WHERE sequence IS NOT NULL;
CREATE INDEX outbox_unsequenced_idx ON outbox (id) WHERE sequence IS NULL;

-- Where each consumed stream got to, written in the transaction of the
-- effect of the event it records.
CREATE TABLE consumer_cursors (
    stream      text        NOT NULL,
    position    bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT consumer_cursors_pkey PRIMARY KEY (stream)
);

-- Events a consumer could not apply and set aside, so the stream goes on;
-- retried on demand.
CREATE TABLE dead_letters (
    stream      text        NOT NULL,
    sequence    bigint      NOT NULL,
    tenant_id   uuid        NOT NULL,
    payload     bytea       NOT NULL,
    error       text        NOT NULL,
    attempts    integer     NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dead_letters_pkey PRIMARY KEY (stream, sequence)
);
