-- Every replica holds each tenant's price book and the accounts it has
-- priced in memory, and LISTENs on the channel `pricing` for what makes
-- them stale (see books.rs). Payloads:
--   book <tenant_id> <version>     a write of the tenant's pricing committed
--   account <tenant_id> <account>  an account came into the read model, or
--                                  its currency, sales rep or group parent
--                                  changed there
-- Notifications go out when the transaction commits, so a replica that
-- hears one reads the committed change.

CREATE FUNCTION pricing.notify_book() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pricing', 'book ' || NEW.tenant_id || ' ' || NEW.version);
    RETURN NULL;
END
$$;

CREATE TRIGGER book_versions_notify
    AFTER INSERT OR UPDATE ON pricing.book_versions
    FOR EACH ROW EXECUTE FUNCTION pricing.notify_book();

CREATE FUNCTION pricing.notify_account() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        changed := OLD;
    ELSE
        changed := NEW;
    END IF;
    IF TG_TABLE_NAME = 'group_members' THEN
        PERFORM pg_notify('pricing', 'account ' || changed.tenant_id || ' ' || changed.member_id);
    ELSE
        PERFORM pg_notify('pricing', 'account ' || changed.tenant_id || ' ' || changed.account_id);
    END IF;
    RETURN NULL;
END
$$;

-- An account's first row too: a replica may hold what it read of the
-- account from the accounts service before the stream brought it.
CREATE TRIGGER accounts_notify_insert
    AFTER INSERT ON pricing.accounts
    FOR EACH ROW EXECUTE FUNCTION pricing.notify_account();
CREATE TRIGGER accounts_notify_change
    AFTER UPDATE ON pricing.accounts
    FOR EACH ROW WHEN (OLD IS DISTINCT FROM NEW) EXECUTE FUNCTION pricing.notify_account();
CREATE TRIGGER accounts_notify_delete
    AFTER DELETE ON pricing.accounts
    FOR EACH ROW EXECUTE FUNCTION pricing.notify_account();
CREATE TRIGGER group_members_notify_change
    AFTER INSERT OR UPDATE ON pricing.group_members
    FOR EACH ROW EXECUTE FUNCTION pricing.notify_account();
CREATE TRIGGER group_members_notify_delete
    AFTER DELETE ON pricing.group_members
    FOR EACH ROW EXECUTE FUNCTION pricing.notify_account();
