-- Signed requests and send marks (docs/API.md §2a, §5a), as
-- ../../sqlite/migrations/005_request_signatures.sql. Both reference the device ON DELETE
-- CASCADE: revoking (or re-keying) a device drops them with it.
CREATE TABLE request_nonces (
  user_name  TEXT   NOT NULL,
  device_id  BIGINT NOT NULL,
  nonce      BYTEA  NOT NULL CHECK (length(nonce) = 16),
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (user_name, device_id, nonce),
  FOREIGN KEY (user_name, device_id) REFERENCES devices (user_name, device_id) ON DELETE CASCADE
);
CREATE INDEX request_nonces_by_expiry ON request_nonces (expires_at);

CREATE TABLE send_marks (
  user_name TEXT   NOT NULL,
  device_id BIGINT NOT NULL,
  mark      BIGINT NOT NULL CHECK (mark >= 1),
  signature BYTEA  NOT NULL CHECK (length(signature) = 64),
  digest    BYTEA  NOT NULL CHECK (length(digest) = 32),
  PRIMARY KEY (user_name, device_id),
  FOREIGN KEY (user_name, device_id) REFERENCES devices (user_name, device_id) ON DELETE CASCADE
);
