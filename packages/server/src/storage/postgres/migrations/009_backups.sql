-- Encrypted key backups (docs/API.md §9, docs/RECOVERY.md): as sqlite/migrations/009_backups.sql.
-- `failed_attempts` lives in the database, so every relay of a cluster counts the same attempts.
CREATE TABLE backups (
  user_name       TEXT   NOT NULL PRIMARY KEY REFERENCES accounts (user_name) ON DELETE CASCADE,
  kind            SMALLINT NOT NULL CHECK (kind IN (1, 2)),
  blob            BYTEA  NOT NULL,
  wrapped_key     BYTEA  NOT NULL,
  code_hash       BYTEA  CHECK (code_hash IS NULL OR length(code_hash) = 32),
  opaque_record   TEXT,
  generation      BIGINT NOT NULL CHECK (generation >= 1),
  failed_attempts INTEGER NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
  updated_at      BIGINT NOT NULL,
  CHECK ((kind = 1 AND code_hash IS NOT NULL AND opaque_record IS NULL) OR (kind = 2 AND code_hash IS NULL AND opaque_record IS NOT NULL))
);

CREATE TABLE backup_logins (
  login_hash BYTEA  NOT NULL PRIMARY KEY CHECK (length(login_hash) = 32),
  user_name  TEXT   NOT NULL REFERENCES backups (user_name) ON DELETE CASCADE,
  state      TEXT   NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX backup_logins_by_user ON backup_logins (user_name);

CREATE TABLE backup_server (
  id    SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),
  setup TEXT     NOT NULL
);
