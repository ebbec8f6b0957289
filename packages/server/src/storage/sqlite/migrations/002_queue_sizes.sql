-- Queue length per device, kept up to date by triggers in the same transaction as every insert
-- and delete of a queued message (acks, revocation cascades). Sending checks the queue cap with
-- one primary-key lookup here instead of counting the queue each time, which costs O(queue
-- length): about 0.2 ms per send to a device whose queue is near the 10 000-message cap.
CREATE TABLE queue_sizes (
  user      TEXT    NOT NULL,
  device_id INTEGER NOT NULL,
  queued    INTEGER NOT NULL,
  PRIMARY KEY (user, device_id),
  FOREIGN KEY (user, device_id) REFERENCES devices (user, device_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

INSERT INTO queue_sizes (user, device_id, queued)
  SELECT user, device_id, count(*) FROM messages GROUP BY user, device_id;

CREATE TRIGGER messages_queued_insert AFTER INSERT ON messages BEGIN
  INSERT INTO queue_sizes (user, device_id, queued) VALUES (NEW.user, NEW.device_id, 1)
    ON CONFLICT (user, device_id) DO UPDATE SET queued = queued + 1;
END;

CREATE TRIGGER messages_queued_delete AFTER DELETE ON messages BEGIN
  UPDATE queue_sizes SET queued = queued - 1 WHERE user = OLD.user AND device_id = OLD.device_id;
END;
