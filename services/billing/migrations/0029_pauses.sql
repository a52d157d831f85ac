-- Paused subscriptions (issue 23): `paused_on`, the day a subscription was
-- paused; nothing of it is charged while it is set.
ALTER TABLE billing.subscriptions ADD COLUMN paused_on date;

-- A subscription ending with its fixed term while paused ends too.
DROP INDEX billing.subscriptions_ending;
CREATE INDEX subscriptions_ending ON billing.subscriptions (cancelled_on) WHERE status IN ('ACTIVE', 'PAUSED');
