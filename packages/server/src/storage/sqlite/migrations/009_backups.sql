-- Encrypted key backups (docs/API.md §9, docs/RECOVERY.md). The relay stores, per user, one
-- opaque blob (encrypted on the device under a random backup key) and that backup key wrapped
-- under the user's secret, released only to a client that proves the secret:
--   kind 1 (recovery code): `code_hash` = SHA-256 of an access secret derived from the code;
--   kind 2 (passphrase): `opaque_record` = the OPAQUE registration record (RFC 9807 §5.1.1).
-- `failed_attempts` counts OPAQUE logins started and not finished successfully (reset by a
-- success or by new access from a device); at the limit the backup is locked. In the database,
-- so every relay of a cluster counts the same attempts.
CREATE TABLE backups (
  user            TEXT    NOT NULL PRIMARY KEY REFERENCES accounts (user) ON DELETE CASCADE,
  kind            INTEGER NOT NULL CHECK (kind IN (1, 2)),
  blob            BLOB    NOT NULL,
  wrapped_key     BLOB    NOT NULL,
  code_hash       BLOB    CHECK (code_hash IS NULL OR length(code_hash) = 32),
  opaque_record   TEXT,
  generation      INTEGER NOT NULL CHECK (generation >= 1),
  failed_attempts INTEGER NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
  updated_at      INTEGER NOT NULL,
  CHECK ((kind = 1 AND code_hash IS NOT NULL AND opaque_record IS NULL) OR (kind = 2 AND code_hash IS NULL AND opaque_record IS NOT NULL))
) STRICT;

-- OPAQUE logins between their two messages (at most a minute): the server's login state, named
-- by SHA-256 of the login id handed to the client.
CREATE TABLE backup_logins (
  login_hash BLOB    NOT NULL PRIMARY KEY CHECK (length(login_hash) = 32),
  user       TEXT    NOT NULL REFERENCES backups (user) ON DELETE CASCADE,
  state      TEXT    NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX backup_logins_by_user ON backup_logins (user);

-- The relay's OPAQUE server setup (OPRF seed and server key pair), one row, made on first use so
-- that every relay of a cluster uses the same one.
CREATE TABLE backup_server (
  id    INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
  setup TEXT    NOT NULL
) STRICT;
