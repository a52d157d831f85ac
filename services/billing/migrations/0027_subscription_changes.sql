-- Subscription changes (issue 23): a subscription's product or quantity
-- changed now (prorated by the day) or at its period's end, each listed in
-- its history.

-- What a subscription charge covers: its days (from, up to but not
-- including, to) of a period of `whole_days` days whose whole price is
-- `period_total`. A cancellation or change on a day inside them credits the
-- days from it at that price. Empty for a charge stored before (read as
-- the period it starts). `changed`: written by a change (the new terms'
-- days, or in arrears the old terms' days before it), not a period's own
-- charge, so taking it back leaves the periods charged as they were.
ALTER TABLE billing.charges
    ADD COLUMN covers_from  date,
    ADD COLUMN covers_to    date,
    ADD COLUMN whole_days   integer CHECK (whole_days > 0),
    ADD COLUMN period_total numeric,
    ADD COLUMN changed      boolean NOT NULL DEFAULT false;

-- `billed_from`: a period changed before it was charged (in arrears) bills
-- its own terms only from that day. `change_id` / `change_on`: a change
-- scheduled for the start of the period beginning `change_on`.
ALTER TABLE billing.subscriptions
    ADD COLUMN billed_from date,
    ADD COLUMN change_id   uuid,
    ADD COLUMN change_on   date;

-- A subscription's history: its creation, every change (applied,
-- scheduled, waiting for credit's approval, refused or superseded) and its
-- cancellation; `doc` is the entry as billing keeps it, the columns what
-- applying a scheduled change and the lookups need.
CREATE TABLE billing.subscription_changes (
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL,
    subscription_id uuid        NOT NULL,
    kind            text        NOT NULL,
    status          text        NOT NULL,
    effective_on    date        NOT NULL,
    held_order_id   uuid,
    doc             jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX subscription_changes_of ON billing.subscription_changes (tenant_id, subscription_id, id);
CREATE INDEX subscription_changes_held ON billing.subscription_changes (tenant_id, held_order_id)
    WHERE status = 'PENDING_APPROVAL';
-- The subscriptions with a change scheduled (read before every charging).
CREATE INDEX subscriptions_changing ON billing.subscriptions (tenant_id, change_on) WHERE change_on IS NOT NULL;
