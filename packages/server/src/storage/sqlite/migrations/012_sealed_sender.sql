-- Sealed sender (docs/API.md §11, docs/PROTOCOL.md §20).
--
-- Delivery-token verifiers per device: SHA-256("blindrelay/delivery-token/v1" || token), never a
-- token. A device has one current verifier (expires_at NULL) and, after a rotation, the previous
-- ones until their grace period ends; a revocation deletes every other verifier at once.
CREATE TABLE delivery_tokens (
  user       TEXT    NOT NULL,
  device_id  INTEGER NOT NULL,
  verifier   BLOB    NOT NULL CHECK (length(verifier) = 32),
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  PRIMARY KEY (user, device_id, verifier),
  FOREIGN KEY (user, device_id) REFERENCES devices (user, device_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX delivery_tokens_by_expiry ON delivery_tokens (expires_at) WHERE expires_at IS NOT NULL;

-- Replay defence for sealed sends: SHA-256 of each accepted sealed envelope, per recipient device,
-- for the retention window. Holds no sender: a digest of ciphertext the device already receives.
CREATE TABLE sealed_digests (
  user       TEXT    NOT NULL,
  device_id  INTEGER NOT NULL,
  digest     BLOB    NOT NULL CHECK (length(digest) = 32),
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (user, device_id, digest),
  FOREIGN KEY (user, device_id) REFERENCES devices (user, device_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX sealed_digests_by_expiry ON sealed_digests (expires_at);
