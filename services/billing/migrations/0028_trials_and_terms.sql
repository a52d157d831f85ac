-- Trials and fixed terms (issue 23). `trial_ends_on`: the first day after
-- a subscription's trial (its first period's first day), announced once
-- (SubscriptionTrialEnded) when it comes with the subscription active.
-- `term_periods`: a fixed term's periods (0: evergreen); `auto_renew`: a
-- new term at its end (SubscriptionRenewed as each term's first period is
-- charged), else the subscription ends with it (its `cancelled_on`).
ALTER TABLE billing.subscriptions
    ADD COLUMN trial_ends_on   date,
    ADD COLUMN trial_announced boolean NOT NULL DEFAULT false,
    ADD COLUMN term_periods    integer NOT NULL DEFAULT 0 CHECK (term_periods >= 0),
    ADD COLUMN auto_renew      boolean NOT NULL DEFAULT false;

-- The trials still to announce (read every few seconds).
CREATE INDEX subscriptions_trials_ending ON billing.subscriptions (trial_ends_on)
    WHERE NOT trial_announced AND trial_ends_on IS NOT NULL;
