-- +goose Up

-- Erased profiles, as SHA-256 hashes of their names (no name is kept): a
-- score refresh computed before an erasure reached the metrics service may be
-- applied after the erasure reached this one; its scores for the erased
-- profile are dropped.
CREATE TABLE segment.erased_profiles (
    hash bytea PRIMARY KEY
);

-- +goose Down
DROP TABLE segment.erased_profiles;
