-- A subscription cancelled at its period's end stays ACTIVE until that day
-- (its `cancelled_on`); the accrual worker ends those whose day came every
-- few seconds, reading only these rows.
CREATE INDEX subscriptions_ending ON billing.subscriptions (cancelled_on) WHERE status = 'ACTIVE';
