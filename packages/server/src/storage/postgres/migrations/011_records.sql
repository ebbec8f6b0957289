-- Encrypted records and blind-index postings, as ../../sqlite/migrations/011_records.sql.
-- Postings are one B-tree (the primary key (coll, idx, token, record_id)): a token query is an
-- index range scan; an AND of tokens joins on it.

CREATE TABLE collections (
  seq          BIGSERIAL PRIMARY KEY,
  id           BYTEA  NOT NULL UNIQUE CHECK (length(id) = 16),
  owner        TEXT   NOT NULL REFERENCES accounts (user_name) ON DELETE CASCADE,
  epoch        BIGINT NOT NULL CHECK (epoch >= 0),
  revision     BIGINT NOT NULL CHECK (revision >= 1),
  meta         BYTEA  NOT NULL,
  record_count BIGINT NOT NULL DEFAULT 0 CHECK (record_count >= 0),
  created_at   BIGINT NOT NULL,
  updated_at   BIGINT NOT NULL
);
CREATE INDEX collections_by_owner ON collections (owner, id);

CREATE TABLE collection_members (
  coll      BIGINT NOT NULL REFERENCES collections (seq) ON DELETE CASCADE,
  user_name TEXT   NOT NULL REFERENCES accounts (user_name) ON DELETE CASCADE,
  PRIMARY KEY (coll, user_name)
);
CREATE INDEX collection_members_by_user ON collection_members (user_name, coll);

CREATE TABLE records (
  coll       BIGINT NOT NULL REFERENCES collections (seq) ON DELETE CASCADE,
  record_id  BYTEA  NOT NULL CHECK (length(record_id) = 16),
  epoch      BIGINT NOT NULL CHECK (epoch >= 0),
  body       BYTEA  NOT NULL,
  tokens     BYTEA  NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (coll, record_id)
);

CREATE TABLE record_postings (
  coll      BIGINT   NOT NULL REFERENCES collections (seq) ON DELETE CASCADE,
  idx       SMALLINT NOT NULL,
  token     BIGINT   NOT NULL,
  record_id BYTEA    NOT NULL,
  PRIMARY KEY (coll, idx, token, record_id)
);
