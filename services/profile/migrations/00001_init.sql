-- +goose Up

-- One row per profile ever created. Merged profiles stay, pointing at the
-- profile they were merged into and keeping their traits as they were, so
-- that old names keep resolving and merges can be undone.
CREATE TABLE profile.profiles (
    id          uuid PRIMARY KEY,
    traits      jsonb NOT NULL DEFAULT '{}',
    create_time timestamptz NOT NULL,
    update_time timestamptz NOT NULL,
    merged_into uuid REFERENCES profile.profiles (id)
);

-- Live profiles in id (creation) order, for ListProfiles.
CREATE INDEX profiles_live_idx ON profile.profiles (id) WHERE merged_into IS NULL;

-- The identity graph: each identifier is held by exactly one live profile.
CREATE TABLE profile.identifiers (
    type         text NOT NULL,
    value        text NOT NULL,
    profile_id   uuid NOT NULL REFERENCES profile.profiles (id),
    -- When the identifier was seen on the call that linked it, and when
    -- that call ran.
    observe_time timestamptz NOT NULL,
    link_time    timestamptz NOT NULL,
    PRIMARY KEY (type, value)
);

CREATE INDEX identifiers_profile_idx ON profile.identifiers (profile_id);

-- A profile holds at most one user id: the merge rules keep to it and this
-- index makes sure of it.
CREATE UNIQUE INDEX identifiers_one_user_id_idx ON profile.identifiers (profile_id) WHERE type = 'user_id';

-- The merge log: which profile absorbed which, why, and which identifiers
-- moved.
CREATE TABLE profile.merges (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    survivor_id  uuid NOT NULL REFERENCES profile.profiles (id),
    merged_id    uuid NOT NULL REFERENCES profile.profiles (id),
    reason       text NOT NULL,
    identifiers  jsonb NOT NULL,
    merge_time   timestamptz NOT NULL,
    observe_time timestamptz NOT NULL
);

CREATE INDEX merges_survivor_idx ON profile.merges (survivor_id);
CREATE INDEX merges_merged_idx ON profile.merges (merged_id);

-- +goose Down
DROP TABLE profile.merges;
DROP TABLE profile.identifiers;
DROP TABLE profile.profiles;
