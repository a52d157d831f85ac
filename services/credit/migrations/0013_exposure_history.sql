-- An account's credit figures over time: for each quarter hour in which
-- its balance, reservations or limit changed, the figures it ended with.
-- Every time zone's midnight falls on a quarter hour, so the figures at
-- the end of any day in any zone are the last row before that midnight.
-- Written by the triggers below, so no change of credit.accounts, by
-- whatever path, goes unrecorded; the account's row lock (held by every
-- change) orders the writes of one account, and each is dated by the clock
-- when it holds that lock.
CREATE TABLE credit.exposure_history (
    tenant_id    uuid        NOT NULL,
    account_id   uuid        NOT NULL,
    -- Start of the quarter hour (UTC) the figures were last changed in.
    bucket       timestamptz NOT NULL,
    balance      numeric     NOT NULL,
    reserved     numeric     NOT NULL,
    credit_limit numeric     NOT NULL,
    unlimited    boolean     NOT NULL,
    CONSTRAINT exposure_history_pkey PRIMARY KEY (tenant_id, account_id, bucket)
);

CREATE FUNCTION credit.record_exposure() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO credit.exposure_history (tenant_id, account_id, bucket, balance, reserved, credit_limit, unlimited)
    -- The clock now, not the transaction's start: read under the account's
    -- row lock, so a later change of the account is never dated earlier.
    VALUES (NEW.tenant_id, NEW.account_id,
            date_bin('15 minutes', clock_timestamp(), TIMESTAMPTZ '2000-01-01 00:00:00+00'),
            NEW.balance, NEW.reserved, NEW.credit_limit, NEW.unlimited)
    ON CONFLICT (tenant_id, account_id, bucket) DO UPDATE
        SET balance = EXCLUDED.balance, reserved = EXCLUDED.reserved,
            credit_limit = EXCLUDED.credit_limit, unlimited = EXCLUDED.unlimited;
    RETURN NULL;
END
$$;

CREATE TRIGGER exposure_recorded_on_insert AFTER INSERT ON credit.accounts
    FOR EACH ROW EXECUTE FUNCTION credit.record_exposure();
CREATE TRIGGER exposure_recorded_on_change AFTER UPDATE OF balance, reserved, credit_limit, unlimited ON credit.accounts
    FOR EACH ROW
    WHEN (OLD.balance IS DISTINCT FROM NEW.balance OR OLD.reserved IS DISTINCT FROM NEW.reserved
          OR OLD.credit_limit IS DISTINCT FROM NEW.credit_limit OR OLD.unlimited IS DISTINCT FROM NEW.unlimited)
    EXECUTE FUNCTION credit.record_exposure();

-- Accounts credit knew before this release start their history now.
INSERT INTO credit.exposure_history (tenant_id, account_id, bucket, balance, reserved, credit_limit, unlimited)
SELECT tenant_id, account_id, date_bin('15 minutes', now(), TIMESTAMPTZ '2000-01-01 00:00:00+00'),
       balance, reserved, credit_limit, unlimited
FROM credit.accounts;
