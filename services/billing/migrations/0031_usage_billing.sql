-- Usage billed in arrears (issue 23): each metered subscription counts the
-- periods whose usage is charged (`usage_periods`, NULL for one that meters
-- nothing billable), each metric's closed period keeps what it was billed
-- (late events for it mark it `late`, and the next charge run bills the
-- difference as an adjustment), and usage charges and invoice lines keep
-- the tiers pricing rated them by.
ALTER TABLE billing.subscriptions ADD COLUMN usage_periods integer CHECK (usage_periods >= 0);
UPDATE billing.subscriptions SET usage_periods = 0
WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(doc->'metered', '[]'::jsonb)) m WHERE m ? 'product');

-- The accrual asks which subscriptions have a period whose usage is due.
CREATE INDEX subscriptions_usage_due ON billing.subscriptions
    ((billing.bill_on(start_date, anchor_day, cycle_months, true, usage_periods, cancelled_on)),
     tenant_id, bill_to_account_id)
    WHERE usage_periods IS NOT NULL;

CREATE TABLE billing.usage_periods (
    tenant_id       uuid    NOT NULL,
    subscription_id uuid    NOT NULL,
    metric          text    NOT NULL,
    period_from     date    NOT NULL,
    period_to       date    NOT NULL CHECK (period_to > period_from),
    quantity        numeric NOT NULL CHECK (quantity >= 0),
    amount          numeric NOT NULL,
    late            boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, subscription_id, metric, period_from)
);
CREATE INDEX usage_periods_late ON billing.usage_periods (tenant_id, subscription_id) WHERE late;

ALTER TABLE billing.charges ADD COLUMN tiers jsonb;
ALTER TABLE billing.invoice_lines ADD COLUMN tiers jsonb;
