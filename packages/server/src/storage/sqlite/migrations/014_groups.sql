-- MLS delivery service (docs/API.md §13, docs/PROTOCOL.md §22; issue 14). A group is a random
-- 16-byte id, an epoch and the devices to deliver to; its name and content are inside MLS. Each
-- group message is stored once (`mls_messages.body`: an MLSMessage) with one queue row per
-- recipient device. Membership and queue rows go with their device (revocation, deletion).

CREATE TABLE mls_groups (
  seq        INTEGER NOT NULL PRIMARY KEY,
  id         BLOB    NOT NULL UNIQUE CHECK (length(id) = 16),
  epoch      INTEGER NOT NULL CHECK (epoch >= 0),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE mls_group_members (
  grp       INTEGER NOT NULL REFERENCES mls_groups (seq) ON DELETE CASCADE,
  user      TEXT    NOT NULL,
  device_id INTEGER NOT NULL,
  PRIMARY KEY (grp, user, device_id),
  FOREIGN KEY (user, device_id) REFERENCES devices (user, device_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX mls_group_members_by_device ON mls_group_members (user, device_id, grp);

CREATE TABLE mls_messages (
  seq        INTEGER NOT NULL PRIMARY KEY,
  grp        INTEGER NOT NULL REFERENCES mls_groups (seq) ON DELETE CASCADE,
  kind       INTEGER NOT NULL CHECK (kind BETWEEN 1 AND 4),
  epoch      INTEGER NOT NULL CHECK (epoch >= 0),
  body       BLOB    NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE mls_queue (
  user      TEXT    NOT NULL,
  device_id INTEGER NOT NULL,
  msg       INTEGER NOT NULL REFERENCES mls_messages (seq) ON DELETE CASCADE,
  PRIMARY KEY (user, device_id, msg),
  FOREIGN KEY (user, device_id) REFERENCES devices (user, device_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX mls_queue_by_message ON mls_queue (msg);

CREATE TABLE mls_key_packages (
  seq         INTEGER NOT NULL PRIMARY KEY,
  user        TEXT    NOT NULL,
  device_id   INTEGER NOT NULL,
  last_resort INTEGER NOT NULL CHECK (last_resort IN (0, 1)),
  body        BLOB    NOT NULL,
  FOREIGN KEY (user, device_id) REFERENCES devices (user, device_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX mls_key_packages_by_device ON mls_key_packages (user, device_id, last_resort, seq);
