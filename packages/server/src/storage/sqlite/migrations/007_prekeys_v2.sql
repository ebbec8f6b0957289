-- Prekey signatures bound to their user and device (docs/PROTOCOL.md §3, labels *_v2; review
-- finding M1). Signed and ML-KEM prekeys stored before were signed under the v1 labels, which
-- current clients refuse in a bundle: they are dropped, and each device uploads new ones the first
-- time it runs a client that signs v2 (until then it is served as unavailable). One-time X25519
-- prekeys are not signed and stay.
DELETE FROM signed_prekeys;
DELETE FROM pq_prekeys;
DELETE FROM pq_last_resort_prekeys;
