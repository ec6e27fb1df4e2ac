-- A revocation made with --keep-channels / disable_rollback_channels keeps
-- that choice on its rows, so that a descendant linked to it later (an import
-- or build change that makes a version a child of a revoked one) is treated
-- the same way as one that was a descendant when the revocation was made.
ALTER TABLE revocations ADD COLUMN keep_channels INTEGER NOT NULL DEFAULT 0;
