-- +goose Up

-- A shared identifier (a device or browser seen with several user ids)
-- stays with the profile that held it but no longer resolves or merges.
ALTER TABLE profile.identifiers ADD COLUMN shared_time timestamptz;

-- Which rule merged two profiles, the identifiers whose sighting caused it,
-- the survivor's traits before it (to restore them on unmerge; NULL for
-- merges logged before), and when it was undone.
ALTER TABLE profile.merges
    ADD COLUMN rule            text NOT NULL DEFAULT 'seen_together',
    ADD COLUMN trigger         jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN survivor_traits jsonb,
    ADD COLUMN unmerge_time    timestamptz;

-- +goose Down
ALTER TABLE profile.merges DROP COLUMN unmerge_time, DROP COLUMN survivor_traits, DROP COLUMN trigger, DROP COLUMN rule;
ALTER TABLE profile.identifiers DROP COLUMN shared_time;
