-- Tables of the shared plumbing. These migrations run once in every
-- service's schema: the connection's search_path names the schema, so the
-- table names here are deliberately unqualified.

-- The first answer to each client request id (AIP-155), replayed on retries.
CREATE TABLE idempotency_keys (
    tenant_id    uuid        NOT NULL,
    request_id   text        NOT NULL,
    request_hash bytea       NOT NULL,
    response     bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (tenant_id, request_id)
);

-- Rows are appended in time order: a BRIN index finds the expired ones for
-- almost no write cost.
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys USING brin (created_at);
