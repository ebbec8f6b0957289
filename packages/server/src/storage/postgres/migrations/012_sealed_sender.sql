-- Sealed sender, as ../../sqlite/migrations/012_sealed_sender.sql.
CREATE TABLE delivery_tokens (
  user_name  TEXT   NOT NULL,
  device_id  BIGINT NOT NULL,
  verifier   BYTEA  NOT NULL CHECK (length(verifier) = 32),
  created_at BIGINT NOT NULL,
  expires_at BIGINT,
  PRIMARY KEY (user_name, device_id, verifier),
  FOREIGN KEY (user_name, device_id) REFERENCES devices (user_name, device_id) ON DELETE CASCADE
);
CREATE INDEX delivery_tokens_by_expiry ON delivery_tokens (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE sealed_digests (
  user_name  TEXT   NOT NULL,
  device_id  BIGINT NOT NULL,
  digest     BYTEA  NOT NULL CHECK (length(digest) = 32),
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (user_name, device_id, digest),
  FOREIGN KEY (user_name, device_id) REFERENCES devices (user_name, device_id) ON DELETE CASCADE
);
CREATE INDEX sealed_digests_by_expiry ON sealed_digests (expires_at);
