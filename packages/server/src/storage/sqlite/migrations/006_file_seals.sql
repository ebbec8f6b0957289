-- Signed file contents (docs/API.md §8, docs/PROTOCOL.md §15.4): the owner's seal of a version
-- (`0x01 | digest[32] | signature[64]`, public: a signature over a digest of the stored
-- ciphertext), set by the upload request that completes the version. NULL for versions stored
-- before seals existed (clients show those as unsigned).
ALTER TABLE file_versions ADD COLUMN seal BLOB CHECK (seal IS NULL OR length(seal) = 97);
