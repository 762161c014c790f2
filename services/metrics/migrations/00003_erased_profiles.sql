-- +goose Up

-- Erased profiles, as SHA-256 hashes of their names (no name is kept): the
-- membership feed is applied apart from the event log, so a membership change
-- of an erased profile read before its erasure may arrive after it; its
-- profile must not come back.
CREATE TABLE metrics.erased_profiles (
    hash bytea PRIMARY KEY
);

-- +goose Down
DROP TABLE metrics.erased_profiles;
