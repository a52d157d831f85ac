-- Physical goods: a product that is one becomes an asset of the account
-- that buys it (billing). Traceable goods are tracked unit by unit; the
-- warranty runs from the day the good ships.
ALTER TABLE pricing.products
    ADD COLUMN physical        boolean NOT NULL DEFAULT false,
    ADD COLUMN traceable       boolean NOT NULL DEFAULT false,
    ADD COLUMN warranty_months integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT products_warranty_months CHECK (warranty_months BETWEEN 0 AND 120),
    ADD CONSTRAINT products_goods_only CHECK (physical OR (NOT traceable AND warranty_months = 0));
