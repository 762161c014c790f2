-- +goose Up

-- Consents per profile and purpose. A profile's consents are read over it
-- and the profiles merged into it, the latest per purpose winning, so that
-- merges and unmerges need not move them.
CREATE TABLE profile.consents (
    profile_id   uuid NOT NULL REFERENCES profile.profiles (id),
    purpose      text NOT NULL,
    granted      boolean NOT NULL,
    source       text NOT NULL,
    consent_time timestamptz NOT NULL,
    PRIMARY KEY (profile_id, purpose)
);

CREATE INDEX profiles_merged_into_idx ON profile.profiles (merged_into) WHERE merged_into IS NOT NULL;

-- +goose Down
DROP INDEX profile.profiles_merged_into_idx;
DROP TABLE profile.consents;
