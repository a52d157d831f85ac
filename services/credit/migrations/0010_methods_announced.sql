-- Accounts whose saved methods billing has not been told about: those a
-- preference became a method for (0009) before any change published
-- them. Credit announces each one's methods once (PaymentMethodsChanged)
-- and deletes its row in the same transaction.
CREATE TABLE credit.methods_to_announce (
    tenant_id  uuid NOT NULL,
    account_id uuid NOT NULL,
    CONSTRAINT methods_to_announce_pkey PRIMARY KEY (tenant_id, account_id)
);

INSERT INTO credit.methods_to_announce (tenant_id, account_id)
SELECT DISTINCT tenant_id, account_id FROM credit.payment_methods
ON CONFLICT DO NOTHING;
