-- Encrypted files (docs/API.md §8), as ../../sqlite/migrations/004_files.sql, plus the payload
-- bytes themselves (cluster mode: every relay sees the same bytes): `file_chunks`, one row per
-- upload request, referencing its version ON DELETE CASCADE, so deleting a version's metadata
-- deletes its bytes in the same transaction. Version numbers only grow within a file.

CREATE TABLE files (
  id              BYTEA  NOT NULL PRIMARY KEY CHECK (length(id) = 16),
  owner           TEXT   NOT NULL REFERENCES accounts (user_name) ON DELETE CASCADE,
  revision        BIGINT NOT NULL CHECK (revision >= 1),
  current_version BIGINT NOT NULL CHECK (current_version >= 1),
  last_version    BIGINT NOT NULL CHECK (last_version >= current_version),
  created_at      BIGINT NOT NULL,
  updated_at      BIGINT NOT NULL
);
CREATE INDEX files_by_owner ON files (owner, id);

CREATE TABLE file_readers (
  file_id   BYTEA NOT NULL REFERENCES files (id) ON DELETE CASCADE,
  user_name TEXT  NOT NULL REFERENCES accounts (user_name) ON DELETE CASCADE,
  PRIMARY KEY (file_id, user_name)
);
CREATE INDEX file_readers_by_user ON file_readers (user_name, file_id);

CREATE TABLE file_versions (
  file_id      BYTEA  NOT NULL REFERENCES files (id) ON DELETE CASCADE,
  version      BIGINT NOT NULL CHECK (version >= 1),
  header       BYTEA  NOT NULL,
  meta         BYTEA  NOT NULL,
  payload_size BIGINT NOT NULL CHECK (payload_size >= 16),
  received     BIGINT NOT NULL CHECK (received BETWEEN 0 AND payload_size),
  lease_token  BYTEA,
  lease_until  BIGINT,
  touched_at   BIGINT NOT NULL,
  PRIMARY KEY (file_id, version)
);
CREATE INDEX file_versions_by_touch ON file_versions (touched_at) WHERE received < payload_size;

-- Ciphertext does not compress: EXTERNAL stores it uncompressed out of line, so substring()
-- reads a slice without fetching the whole chunk (downloads stream in small pieces).
CREATE TABLE file_chunks (
  file_id BYTEA  NOT NULL,
  version BIGINT NOT NULL,
  pos     BIGINT NOT NULL CHECK (pos >= 0),
  data    BYTEA  NOT NULL,
  PRIMARY KEY (file_id, version, pos),
  FOREIGN KEY (file_id, version) REFERENCES file_versions (file_id, version) ON DELETE CASCADE
);
ALTER TABLE file_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
