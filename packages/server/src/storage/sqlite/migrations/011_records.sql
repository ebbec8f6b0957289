-- Encrypted records and blind-index postings (docs/API.md §10, docs/SEARCH.md; issue 13).
-- `collections.meta` is the sealed collection metadata (index declarations, widths) and records'
-- `body` the sealed record (docs/PROTOCOL.md §19.2): opaque ciphertext. `tokens` lists a record's
-- postings (7 bytes each: index u8, token u48), so replacing or deleting a record finds its
-- postings by primary key without a second index. Postings are keyed by the collection's integer
-- `seq`, so the 16-byte id is not repeated per posting.

CREATE TABLE collections (
  seq          INTEGER NOT NULL PRIMARY KEY,
  id           BLOB    NOT NULL UNIQUE CHECK (length(id) = 16),
  owner        TEXT    NOT NULL REFERENCES accounts (user) ON DELETE CASCADE,
  epoch        INTEGER NOT NULL CHECK (epoch >= 0),
  revision     INTEGER NOT NULL CHECK (revision >= 1),
  meta         BLOB    NOT NULL,
  record_count INTEGER NOT NULL DEFAULT 0 CHECK (record_count >= 0),
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX collections_by_owner ON collections (owner, id);

CREATE TABLE collection_members (
  coll INTEGER NOT NULL REFERENCES collections (seq) ON DELETE CASCADE,
  user TEXT    NOT NULL REFERENCES accounts (user) ON DELETE CASCADE,
  PRIMARY KEY (coll, user)
) STRICT, WITHOUT ROWID;
CREATE INDEX collection_members_by_user ON collection_members (user, coll);

CREATE TABLE records (
  coll       INTEGER NOT NULL REFERENCES collections (seq) ON DELETE CASCADE,
  record_id  BLOB    NOT NULL CHECK (length(record_id) = 16),
  epoch      INTEGER NOT NULL CHECK (epoch >= 0),
  body       BLOB    NOT NULL,
  tokens     BLOB    NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (coll, record_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE record_postings (
  coll      INTEGER NOT NULL REFERENCES collections (seq) ON DELETE CASCADE,
  idx       INTEGER NOT NULL,
  token     INTEGER NOT NULL,
  record_id BLOB    NOT NULL,
  PRIMARY KEY (coll, idx, token, record_id)
) STRICT, WITHOUT ROWID;
