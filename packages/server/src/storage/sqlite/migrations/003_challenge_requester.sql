-- The per-device challenge cap counts per requesting address (docs/API.md §2), so nobody can
-- evict a challenge issued to someone else. `requester` is an opaque tag of the address (an HMAC
-- under a per-process random key), never the address itself; empty for challenges issued before.
ALTER TABLE auth_challenges ADD COLUMN requester BLOB NOT NULL DEFAULT X'';
CREATE INDEX auth_challenges_by_requester ON auth_challenges (user, device_id, requester, created_at);
