-- +goose Up

-- Where each trait's current value comes from (operation, source event,
-- time, and whether and when it was set once), by key; read with the
-- profile, so that resolving needs no other read.
ALTER TABLE profile.profiles ADD COLUMN trait_sources jsonb NOT NULL DEFAULT '{}';

-- The survivor's trait sources before a merge, restored by an unmerge with
-- survivor_traits; NULL for merges logged before.
ALTER TABLE profile.merges ADD COLUMN survivor_sources jsonb;

-- Every change of a profile's traits, written in the transaction of the
-- change: the new value (NULL when the trait was removed), how it changed,
-- the message id of the event that carried it ('' for none) and the
-- observe time of the call. Rows go with their profile when it is erased.
CREATE TABLE profile.trait_changes (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    profile_id   uuid NOT NULL REFERENCES profile.profiles (id) ON DELETE CASCADE,
    key          text NOT NULL,
    value        jsonb,
    operation    text NOT NULL CHECK (operation IN ('set', 'set_once', 'unset', 'merge', 'unmerge')),
    source_event text NOT NULL DEFAULT '',
    change_time  timestamptz NOT NULL
);

-- One profile's history, newest first.
CREATE INDEX trait_changes_profile_idx ON profile.trait_changes (profile_id, id DESC);

-- +goose Down
DROP TABLE profile.trait_changes;
ALTER TABLE profile.merges DROP COLUMN survivor_sources;
ALTER TABLE profile.profiles DROP COLUMN trait_sources;
