-- Billing cycles (domain/cycle.rs): a subscription's periods last
-- `cycle_months` (1, 3, 6 or 12) and start on `anchor_day` (NULL: the day
-- of its start), clamped to a shorter month's last day; a start off the
-- anchor day first has a part period up to it. Periods are billed on their
-- first day, or on the day after their last when `in_arrears`. Every
-- subscription stored before is monthly from its start, in advance: the
-- defaults.
ALTER TABLE billing.subscriptions
    ADD COLUMN cycle_months integer NOT NULL DEFAULT 1 CHECK (cycle_months IN (1, 3, 6, 12)),
    ADD COLUMN anchor_day integer CHECK (anchor_day BETWEEN 1 AND 31),
    ADD COLUMN in_arrears boolean NOT NULL DEFAULT false;

-- The anchor's date in month `month` (counted from January of year 0): the
-- anchor day, or the month's last day.
CREATE FUNCTION billing.anchor_date(month integer, anchor integer) RETURNS date
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT make_date(month / 12, month % 12 + 1, least(anchor, extract(day from
        make_date(month / 12, month % 12 + 1, 1) + interval '1 month' - interval '1 day')::integer))
$$;

-- Period `index`'s first day with an anchor off the start's day (see
-- billing.period_start).
CREATE FUNCTION billing.anchored_period_start(start date, anchor integer, months integer, index integer) RETURNS date
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT billing.anchor_date(first + (index - CASE WHEN billing.anchor_date(first, anchor) > start THEN 1 ELSE 0 END)
        * months, anchor)
    FROM (SELECT extract(year from start)::integer * 12 + extract(month from start)::integer - 1 AS month) m,
        LATERAL (SELECT CASE WHEN billing.anchor_date(m.month, anchor) >= start THEN m.month ELSE m.month + 1 END
            AS first) f
$$;

-- The first day of period `index` of a subscription starting on `start`
-- (Schedule::period in domain/cycle.rs; a test compares the two). From its
-- own day (no anchor, or the start on it) it is `index` cycles on, as
-- Postgres adds months (clamped from the start, never drifting); with
-- another anchor, period 0 runs from the start to the first anchor date,
-- then whole cycles from there. A start at infinity (never activated)
-- stays there.
CREATE FUNCTION billing.period_start(start date, anchor integer, months integer, index integer) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN anchor IS NULL OR NOT isfinite(start) OR index = 0 OR anchor = extract(day from start)
            THEN (start + make_interval(months => months * index))::date
        ELSE billing.anchored_period_start(start, anchor, months, index)
    END
$$;

-- The day period `index` is billed (Schedule::billed_on): its first day,
-- or in arrears the next period's first day; a period cut short by `ends`
-- (a cancellation's day: the first day not charged) is billed in arrears
-- that day, and one starting on it or later never (infinity).
CREATE FUNCTION billing.bill_on(start date, anchor integer, months integer, arrears boolean, index integer, ends date)
RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN billing.period_start(start, anchor, months, index) >= coalesce(ends, 'infinity') THEN 'infinity'::date
        WHEN arrears THEN least(billing.period_start(start, anchor, months, index + 1), coalesce(ends, 'infinity'))
        ELSE billing.period_start(start, anchor, months, index)
    END
$$;

-- The accrual asks every few seconds which subscriptions have a later
-- period to bill: that day, indexed.
DROP INDEX billing.subscriptions_next_period;
CREATE INDEX subscriptions_next_period ON billing.subscriptions
    ((billing.bill_on(start_date, anchor_day, cycle_months, in_arrears, greatest(charged_periods, 1), cancelled_on)),
     tenant_id, bill_to_account_id);

-- The day a subscription's first period started, kept in its document too
-- (GetSubscription shows the period running today from it).
UPDATE billing.subscriptions SET doc = jsonb_set(doc, '{start_date}', to_jsonb(start_date::text))
WHERE doc IS NOT NULL AND isfinite(start_date);

-- An account's billing anchor day: subscriptions created for it without
-- an anchor of their own are aligned to it (SetBillingAnchor).
CREATE TABLE billing.billing_anchors (
    tenant_id  uuid        NOT NULL,
    account_id uuid        NOT NULL,
    anchor_day integer     NOT NULL CHECK (anchor_day BETWEEN 1 AND 31),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, account_id)
);
