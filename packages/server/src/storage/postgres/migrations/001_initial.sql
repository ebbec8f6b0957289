-- Blindrelay relay schema, version 1 (PostgreSQL). The same tables as the SQLite schema
-- (../../sqlite/migrations/001_initial.sql + 002_queue_sizes.sql), with BYTEA for bytes and
-- BIGINT for times (ms since the epoch). `user` is a reserved word here, hence `user_name`.
-- Everything is public or opaque to the server: public keys, signed device lists, ciphertext,
-- sealed envelopes, and SHA-256 hashes of bearer secrets. No plaintext token.
-- Everything per device references the device with ON DELETE CASCADE: revoking a device
-- (deleting its row) deletes its tokens, challenges, prekeys, queue and queue counter in the
-- same transaction.

CREATE TABLE accounts (
  user_name    TEXT   NOT NULL PRIMARY KEY,
  master_key   BYTEA  NOT NULL CHECK (length(master_key) = 32),
  list_version BIGINT NOT NULL CHECK (list_version >= 1),
  device_list  BYTEA  NOT NULL,
  created_at   BIGINT NOT NULL,
  updated_at   BIGINT NOT NULL
);

CREATE TABLE devices (
  user_name    TEXT   NOT NULL REFERENCES accounts (user_name) ON DELETE CASCADE,
  device_id    BIGINT NOT NULL CHECK (device_id BETWEEN 1 AND 4294967295),
  signing_key  BYTEA  NOT NULL CHECK (length(signing_key) = 32),
  identity_key BYTEA  NOT NULL CHECK (length(identity_key) = 32),
  PRIMARY KEY (user_name, device_id)
);

CREATE TABLE signed_prekeys (
  user_name  TEXT   NOT NULL,
  device_id  BIGINT NOT NULL,
  key_id     BIGINT NOT NULL,
  public_key BYTEA  NOT NULL,
  signature  BYTEA  NOT NULL,
  PRIMARY KEY (user_name, device_id),
  FOREIGN KEY (user_name, device_id) REFERENCES devices (user_name, device_id) ON DELETE CASCADE
);

-- One-time prekeys are handed out oldest first (`id` order) and deleted when handed out.
CREATE TABLE one_time_prekeys (
  id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_name  TEXT   NOT NULL,
  device_id  BIGINT NOT NULL,
  key_id     BIGINT NOT NULL,
  public_key BYTEA  NOT NULL,
  UNIQUE (user_name, device_id, key_id),
  FOREIGN KEY (user_name, device_id) REFERENCES devices (user_name, device_id) ON DELETE CASCADE
);
CREATE INDEX one_time_prekeys_by_device ON one_time_prekeys (user_name, device_id, id);

CREATE TABLE pq_prekeys (
  id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_name  TEXT   NOT NULL,
  device_id  BIGINT NOT NULL,
  key_id     BIGINT NOT NULL,
  public_key BYTEA  NOT NULL,
  signature  BYTEA  NOT NULL,
  UNIQUE (user_name, device_id, key_id),
  FOREIGN KEY (user_name, device_id) REFERENCES devices (user_name, device_id) ON DELETE CASCADE
);
CREATE INDEX pq_prekeys_by_device ON pq_prekeys (user_name, device_id, id);

CREATE TABLE pq_last_resort_prekeys (
  user_name  TEXT   NOT NULL,
  device_id  BIGINT NOT NULL,
  key_id     BIGINT NOT NULL,
  public_key BYTEA  NOT NULL,
  signature  BYTEA  NOT NULL,
  PRIMARY KEY (user_name, device_id),
  FOREIGN KEY (user_name, device_id) REFERENCES devices (user_name, device_id) ON DELETE CASCADE
);

-- One queue per device; seq is the queue order and the WebSocket push high-water mark.
CREATE TABLE messages (
  seq         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id          BYTEA   NOT NULL UNIQUE CHECK (length(id) = 16),
  user_name   TEXT    NOT NULL,
  device_id   BIGINT  NOT NULL,
  from_user   TEXT    NOT NULL,
  from_device BIGINT  NOT NULL,
  body        BYTEA   NOT NULL,
  sent_at     BIGINT  NOT NULL,
  FOREIGN KEY (user_name, device_id) REFERENCES devices (user_name, device_id) ON DELETE CASCADE
);
CREATE INDEX messages_by_device ON messages (user_name, device_id, seq);

-- Queue length per device, maintained by the storage code in the same transaction as every
-- enqueue and ack (a revocation deletes the row with the device). An enqueue locks these rows
-- (FOR UPDATE) before inserting: that enforces the cap under concurrency and makes messages to
-- one device commit in seq order, so a reader never sees seq N+1 before seq N.
CREATE TABLE queue_sizes (
  user_name TEXT   NOT NULL,
  device_id BIGINT NOT NULL,
  queued    BIGINT NOT NULL CHECK (queued >= 0),
  PRIMARY KEY (user_name, device_id),
  FOREIGN KEY (user_name, device_id) REFERENCES devices (user_name, device_id) ON DELETE CASCADE
);

CREATE TABLE auth_challenges (
  challenge_hash BYTEA  NOT NULL PRIMARY KEY CHECK (length(challenge_hash) = 32),
  user_name      TEXT   NOT NULL,
  device_id      BIGINT NOT NULL,
  created_at     BIGINT NOT NULL,
  expires_at     BIGINT NOT NULL,
  FOREIGN KEY (user_name, device_id) REFERENCES devices (user_name, device_id) ON DELETE CASCADE
);
CREATE INDEX auth_challenges_by_device ON auth_challenges (user_name, device_id, created_at);
CREATE INDEX auth_challenges_by_expiry ON auth_challenges (expires_at);

CREATE TABLE auth_tokens (
  token_hash BYTEA  NOT NULL PRIMARY KEY CHECK (length(token_hash) = 32),
  user_name  TEXT   NOT NULL,
  device_id  BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  FOREIGN KEY (user_name, device_id) REFERENCES devices (user_name, device_id) ON DELETE CASCADE
);
CREATE INDEX auth_tokens_by_device ON auth_tokens (user_name, device_id, created_at);
CREATE INDEX auth_tokens_by_expiry ON auth_tokens (expires_at);

-- state: 0 = waiting for the envelope, 1 = envelope stored, 2 = envelope fetched (used up).
CREATE TABLE provisioning_channels (
  channel_hash BYTEA    NOT NULL PRIMARY KEY CHECK (length(channel_hash) = 32),
  state        SMALLINT NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2)),
  envelope     BYTEA,
  created_at   BIGINT   NOT NULL,
  expires_at   BIGINT   NOT NULL
);
CREATE INDEX provisioning_channels_by_expiry ON provisioning_channels (expires_at);
