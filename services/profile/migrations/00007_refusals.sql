-- +goose Up

-- Joins of two live profiles that the merge rules refused (a limit, or
-- shared-device protection), so that a dry run of new rules can count the
-- merges they would make. Only the identifier's type is kept; rows go with
-- their profiles when those are erased.
CREATE TABLE profile.refused_joins (
    seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    profile_id      uuid NOT NULL REFERENCES profile.profiles (id) ON DELETE CASCADE,
    other_id        uuid NOT NULL REFERENCES profile.profiles (id) ON DELETE CASCADE,
    rule            text NOT NULL,
    identifier_type text NOT NULL,
    create_time     timestamptz NOT NULL,
    UNIQUE (profile_id, other_id, rule)
);

-- +goose Down
DROP TABLE profile.refused_joins;
