-- Erased profiles, as SHA-256 hashes of their ids (no id is kept), with
-- every profile merged into them before. An append resolved before an
-- erasure was applied here but committed after it would store events under
-- the erased profile, past the deletion of its events; it finds the profile
-- here and fails instead, and its retry is resolved again.

-- +goose Up
CREATE TABLE event.erased_profiles (
    hash bytea PRIMARY KEY
);

-- +goose Down
DROP TABLE event.erased_profiles;
