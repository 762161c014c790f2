-- +goose Up

-- Exclusive segment groups: of the segments sharing a group, a profile is
-- a member of the first (lowest priority, then id) whose condition it
-- matches. Both are part of the versioned definition.
ALTER TABLE segment.segments
    ADD COLUMN exclusive_group text NOT NULL DEFAULT '',
    ADD COLUMN priority        integer NOT NULL DEFAULT 0;
ALTER TABLE segment.segment_revisions
    ADD COLUMN exclusive_group text NOT NULL DEFAULT '',
    ADD COLUMN priority        integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE segment.segment_revisions DROP COLUMN priority, DROP COLUMN exclusive_group;
ALTER TABLE segment.segments DROP COLUMN priority, DROP COLUMN exclusive_group;
