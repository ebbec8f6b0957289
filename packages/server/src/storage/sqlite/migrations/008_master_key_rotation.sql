-- Custody (docs/PROTOCOL.md §16.4, docs/API.md §3): the newest master-key rotation statement of an
-- account, signed by its previous and its current master key. Served with the directory entry so
-- the user's own devices can follow the rotation; NULL for accounts that never rotated.
ALTER TABLE accounts ADD COLUMN rotation BLOB;
