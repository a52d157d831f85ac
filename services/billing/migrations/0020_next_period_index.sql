-- The accrual worker asks every few seconds which subscriptions have a
-- later period started: the day the next period starts, indexed, so the
-- question reads the few rows due instead of every subscription.
CREATE INDEX subscriptions_next_period ON billing.subscriptions
    (((start_date + make_interval(months => greatest(charged_periods, 1)))::date), tenant_id, bill_to_account_id);
