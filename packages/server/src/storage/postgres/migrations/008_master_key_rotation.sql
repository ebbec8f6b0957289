-- Custody, as ../../sqlite/migrations/008_master_key_rotation.sql: the newest master-key rotation
-- statement of an account (docs/PROTOCOL.md §16.4); NULL for accounts that never rotated.
ALTER TABLE accounts ADD COLUMN rotation BYTEA;
