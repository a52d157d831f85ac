-- Automatic collection of posted invoices. Billing follows credit's saved
-- payment methods (PaymentMethodsChanged): each account's method opted in
-- for subscriptions is kept here. An invoice posted for such an account
-- gets a pending collection (billing's Collection as JSON), and
-- `collect_after` queues it for the collector, which asks the payment
-- provider outside any transaction and records what it answered.
CREATE TABLE billing.collection_methods (
    tenant_id       uuid        NOT NULL,
    account_id      uuid        NOT NULL,
    method_id       text        NOT NULL,
    token_reference text        NOT NULL,
    label           text        NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT collection_methods_pkey PRIMARY KEY (tenant_id, account_id)
);

ALTER TABLE billing.invoices ADD COLUMN collection jsonb;
ALTER TABLE billing.invoices ADD COLUMN collect_after timestamptz;
CREATE INDEX invoices_to_collect ON billing.invoices (collect_after) WHERE collect_after IS NOT NULL;
