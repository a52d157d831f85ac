-- A cancelled subscription charges no period starting on or after the day
-- it was cancelled.
ALTER TABLE billing.subscriptions ADD COLUMN cancelled_on date;
