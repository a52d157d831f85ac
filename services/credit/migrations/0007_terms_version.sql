-- The version of an account's credit terms, raised by every change of the
-- terms (and only of the terms): the etag a credit manager sends back so
-- that two managers cannot overwrite each other's change unseen.
ALTER TABLE credit.accounts ADD COLUMN terms_version bigint NOT NULL DEFAULT 1;
