-- Suspensions credit asked for, until the accounts service has done them.
CREATE TABLE credit.suspensions (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL,
    account_id   uuid        NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    done_at      timestamptz,
    outcome      text        NOT NULL DEFAULT '',
    CONSTRAINT suspensions_pkey PRIMARY KEY (tenant_id, id)
);
CREATE INDEX suspensions_pending ON credit.suspensions (requested_at) WHERE done_at IS NULL;
