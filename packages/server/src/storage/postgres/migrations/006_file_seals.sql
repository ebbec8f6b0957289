-- Signed file contents, as ../../sqlite/migrations/006_file_seals.sql: the owner's seal of a
-- version, set by the upload request that completes it; NULL for versions stored before.
ALTER TABLE file_versions ADD COLUMN seal BYTEA CHECK (seal IS NULL OR length(seal) = 97);
