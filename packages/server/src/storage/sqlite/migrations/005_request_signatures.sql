-- Signed requests and send marks (docs/API.md §2a, §5a). Both are per device and reference the
-- device ON DELETE CASCADE: revoking (or re-keying) a device drops them with it.
--
-- request_nonces: the nonces of accepted signed requests (destructive operations), kept until
-- their timestamp has left the validity window; a nonce seen again is a replay.
CREATE TABLE request_nonces (
  user       TEXT    NOT NULL,
  device_id  INTEGER NOT NULL,
  nonce      BLOB    NOT NULL CHECK (length(nonce) = 16),
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (user, device_id, nonce),
  FOREIGN KEY (user, device_id) REFERENCES devices (user, device_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX request_nonces_by_expiry ON request_nonces (expires_at);

-- send_marks: the highest send mark the device signed (profile rollback detection), its
-- signature (so the device can check the relay's claim), and a digest of the send that carried
-- it (a retry of that same send is accepted again).
CREATE TABLE send_marks (
  user      TEXT    NOT NULL,
  device_id INTEGER NOT NULL,
  mark      INTEGER NOT NULL CHECK (mark >= 1),
  signature BLOB    NOT NULL CHECK (length(signature) = 64),
  digest    BLOB    NOT NULL CHECK (length(digest) = 32),
  PRIMARY KEY (user, device_id),
  FOREIGN KEY (user, device_id) REFERENCES devices (user, device_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
