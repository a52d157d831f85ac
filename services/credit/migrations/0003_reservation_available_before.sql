-- The available credit an approval saw before it reserved, so a retried
-- AuthorizeOrder answers exactly what the first call answered.
ALTER TABLE credit.reservations ADD COLUMN available_before numeric;
