-- Money in a wallet can be paid back to the customer (so an account whose
-- wallet held money can be terminated).
ALTER TABLE billing.wallet_transactions DROP CONSTRAINT wallet_transactions_kind_check;
ALTER TABLE billing.wallet_transactions ADD CONSTRAINT wallet_transactions_kind_check
    CHECK (kind IN ('TOP_UP', 'ORDER_PAYMENT', 'INVOICE_PAYMENT', 'ORDER_REFUND', 'PAY_OUT'));
