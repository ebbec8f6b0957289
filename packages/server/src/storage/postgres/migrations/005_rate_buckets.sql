-- Rate-limit counters shared by the relays of a cluster (storage/postgres/postgres-rate-limits.ts):
-- one token bucket per row, named by 16 bytes of SHA-256 of (action, subject), never the subject
-- itself. `capacity` and `refill` (tokens per second) are the rule of the last charge; `full_at`
-- bounds when the bucket is full again, after which housekeeping deletes it.
CREATE UNLOGGED TABLE rate_buckets (
  bucket BYTEA NOT NULL PRIMARY KEY,
  tokens DOUBLE PRECISION NOT NULL,
  capacity DOUBLE PRECISION NOT NULL,
  refill DOUBLE PRECISION NOT NULL,
  updated_at BIGINT NOT NULL,
  full_at BIGINT NOT NULL
);
CREATE INDEX rate_buckets_by_full_at ON rate_buckets (full_at);
