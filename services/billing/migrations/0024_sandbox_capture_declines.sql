-- The SANDBOX payment provider's test token tok_capture_decline...: the
-- authorization is approved and its capture declined, as a gateway's test
-- mode offers, so a declined capture (and the void that follows it) can be
-- tried end to end.
ALTER TABLE billing.sandbox_authorizations ADD COLUMN declines_capture boolean NOT NULL DEFAULT false;
