-- The billing schema. Its outbox (the event stream) comes with the shared
-- platform migrations; orders, subscriptions, invoices, payments and
-- periods arrive with their RPCs.
SELECT 1;
