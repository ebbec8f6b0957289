-- Blindrelay relay schema, version 1 (SQLite, STRICT tables).
-- Everything here is public or opaque to the server: public keys, signed device lists,
-- ciphertext, sealed envelopes, and SHA-256 hashes of bearer secrets. No plaintext token.
-- Devices reference their account and everything per device references the device with
-- ON DELETE CASCADE: revoking a device (deleting its row) deletes its tokens, challenges,
-- prekeys and queued messages in the same transaction.

CREATE TABLE accounts (
  user         TEXT    NOT NULL PRIMARY KEY,
  master_key   BLOB    NOT NULL CHECK (length(master_key) = 32),
  list_version INTEGER NOT NULL CHECK (list_version >= 1),
  device_list  BLOB    NOT NULL,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE devices (
  user         TEXT    NOT NULL REFERENCES accounts (user) ON DELETE CASCADE,
  device_id    INTEGER NOT NULL CHECK (device_id BETWEEN 1 AND 4294967295),
  signing_key  BLOB    NOT NULL CHECK (length(signing_key) = 32),
  identity_key BLOB    NOT NULL CHECK (length(identity_key) = 32),
  PRIMARY KEY (user, device_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE signed_prekeys (
  user       TEXT    NOT NULL,
  device_id  INTEGER NOT NULL,
  key_id     INTEGER NOT NULL,
  public_key BLOB    NOT NULL,
  signature  BLOB    NOT NULL,
  PRIMARY KEY (user, device_id),
  FOREIGN KEY (user, device_id) REFERENCES devices (user, device_id) ON DELETE CASCADE
) STRICT;

-- One-time prekeys are handed out oldest first (rowid order) and deleted when handed out.
CREATE TABLE one_time_prekeys (
  user       TEXT    NOT NULL,
  device_id  INTEGER NOT NULL,
  key_id     INTEGER NOT NULL,
  public_key BLOB    NOT NULL,
  UNIQUE (user, device_id, key_id),
  FOREIGN KEY (user, device_id) REFERENCES devices (user, device_id) ON DELETE CASCADE
) STRICT;

CREATE TABLE pq_prekeys (
  user       TEXT    NOT NULL,
  device_id  INTEGER NOT NULL,
  key_id     INTEGER NOT NULL,
  public_key BLOB    NOT NULL,
  signature  BLOB    NOT NULL,
  UNIQUE (user, device_id, key_id),
  FOREIGN KEY (user, device_id) REFERENCES devices (user, device_id) ON DELETE CASCADE
) STRICT;

CREATE TABLE pq_last_resort_prekeys (
  user       TEXT    NOT NULL,
  device_id  INTEGER NOT NULL,
  key_id     INTEGER NOT NULL,
  public_key BLOB    NOT NULL,
  signature  BLOB    NOT NULL,
  PRIMARY KEY (user, device_id),
  FOREIGN KEY (user, device_id) REFERENCES devices (user, device_id) ON DELETE CASCADE
) STRICT;

-- One queue per device; seq is the queue order and the WebSocket push high-water mark.
CREATE TABLE messages (
  seq         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
  id          BLOB    NOT NULL UNIQUE CHECK (length(id) = 16),
  user        TEXT    NOT NULL,
  device_id   INTEGER NOT NULL,
  from_user   TEXT    NOT NULL,
  from_device INTEGER NOT NULL,
  body        BLOB    NOT NULL,
  sent_at     INTEGER NOT NULL,
  FOREIGN KEY (user, device_id) REFERENCES devices (user, device_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX messages_by_device ON messages (user, device_id, seq);

CREATE TABLE auth_challenges (
  challenge_hash BLOB    NOT NULL PRIMARY KEY CHECK (length(challenge_hash) = 32),
  user           TEXT    NOT NULL,
  device_id      INTEGER NOT NULL,
  created_at     INTEGER NOT NULL,
  expires_at     INTEGER NOT NULL,
  FOREIGN KEY (user, device_id) REFERENCES devices (user, device_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX auth_challenges_by_device ON auth_challenges (user, device_id, created_at);
CREATE INDEX auth_challenges_by_expiry ON auth_challenges (expires_at);

CREATE TABLE auth_tokens (
  token_hash BLOB    NOT NULL PRIMARY KEY CHECK (length(token_hash) = 32),
  user       TEXT    NOT NULL,
  device_id  INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  FOREIGN KEY (user, device_id) REFERENCES devices (user, device_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX auth_tokens_by_device ON auth_tokens (user, device_id, created_at);
CREATE INDEX auth_tokens_by_expiry ON auth_tokens (expires_at);

-- state: 0 = waiting for the envelope, 1 = envelope stored, 2 = envelope fetched (used up).
CREATE TABLE provisioning_channels (
  channel_hash BLOB    NOT NULL PRIMARY KEY CHECK (length(channel_hash) = 32),
  state        INTEGER NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2)),
  envelope     BLOB,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX provisioning_channels_by_expiry ON provisioning_channels (expires_at);
