-- MLS delivery service, as ../../sqlite/migrations/014_groups.sql (docs/API.md §13).

CREATE TABLE mls_groups (
  seq        BIGSERIAL PRIMARY KEY,
  id         BYTEA    NOT NULL UNIQUE CHECK (length(id) = 16),
  epoch      BIGINT NOT NULL CHECK (epoch >= 0),
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE mls_group_members (
  grp       BIGINT NOT NULL REFERENCES mls_groups (seq) ON DELETE CASCADE,
  user_name TEXT    NOT NULL,
  device_id BIGINT NOT NULL,
  PRIMARY KEY (grp, user_name, device_id),
  FOREIGN KEY (user_name, device_id) REFERENCES devices (user_name, device_id) ON DELETE CASCADE
);
CREATE INDEX mls_group_members_by_device ON mls_group_members (user_name, device_id, grp);

CREATE TABLE mls_messages (
  seq        BIGSERIAL PRIMARY KEY,
  grp        BIGINT NOT NULL REFERENCES mls_groups (seq) ON DELETE CASCADE,
  kind       BIGINT NOT NULL CHECK (kind BETWEEN 1 AND 4),
  epoch      BIGINT NOT NULL CHECK (epoch >= 0),
  body       BYTEA    NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE mls_queue (
  user_name TEXT    NOT NULL,
  device_id BIGINT NOT NULL,
  msg       BIGINT NOT NULL REFERENCES mls_messages (seq) ON DELETE CASCADE,
  PRIMARY KEY (user_name, device_id, msg),
  FOREIGN KEY (user_name, device_id) REFERENCES devices (user_name, device_id) ON DELETE CASCADE
);
CREATE INDEX mls_queue_by_message ON mls_queue (msg);

CREATE TABLE mls_key_packages (
  seq         BIGSERIAL PRIMARY KEY,
  user_name   TEXT    NOT NULL,
  device_id   BIGINT NOT NULL,
  last_resort BIGINT NOT NULL CHECK (last_resort IN (0, 1)),
  body        BYTEA    NOT NULL,
  FOREIGN KEY (user_name, device_id) REFERENCES devices (user_name, device_id) ON DELETE CASCADE
);
CREATE INDEX mls_key_packages_by_device ON mls_key_packages (user_name, device_id, last_resort, seq);
