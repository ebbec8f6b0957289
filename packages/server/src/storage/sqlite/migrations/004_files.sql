-- Encrypted files (docs/API.md §8): metadata only; the payload bytes are blobs in `blobs/`
-- (src/blobs/fs-blob-store.ts), one per (file id, version). The header is the public age header
-- (stanzas + MAC), `meta` is opaque client ciphertext. Version numbers only grow within a file
-- (`last_version`), so a blob name is never reused.
-- A version with `version > current_version` is the pending replacement (at most one).
-- `lease_token` / `lease_until`: the upload in progress on that version (one at a time).

CREATE TABLE files (
  id              BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
  owner           TEXT    NOT NULL REFERENCES accounts (user) ON DELETE CASCADE,
  revision        INTEGER NOT NULL CHECK (revision >= 1),
  current_version INTEGER NOT NULL CHECK (current_version >= 1),
  last_version    INTEGER NOT NULL CHECK (last_version >= current_version),
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX files_by_owner ON files (owner, id);

CREATE TABLE file_readers (
  file_id BLOB NOT NULL REFERENCES files (id) ON DELETE CASCADE,
  user    TEXT NOT NULL REFERENCES accounts (user) ON DELETE CASCADE,
  PRIMARY KEY (file_id, user)
) STRICT, WITHOUT ROWID;
CREATE INDEX file_readers_by_user ON file_readers (user, file_id);

CREATE TABLE file_versions (
  file_id      BLOB    NOT NULL REFERENCES files (id) ON DELETE CASCADE,
  version      INTEGER NOT NULL CHECK (version >= 1),
  header       BLOB    NOT NULL,
  meta         BLOB    NOT NULL,
  payload_size INTEGER NOT NULL CHECK (payload_size >= 16),
  received     INTEGER NOT NULL CHECK (received BETWEEN 0 AND payload_size),
  lease_token  BLOB,
  lease_until  INTEGER,
  touched_at   INTEGER NOT NULL,
  UNIQUE (file_id, version)
) STRICT;
CREATE INDEX file_versions_by_touch ON file_versions (touched_at) WHERE received < payload_size;
