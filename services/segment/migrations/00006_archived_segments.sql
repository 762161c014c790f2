-- +goose Up

-- When a segment was archived; NULL while it is active. Archived segments
-- are no longer evaluated and have no members, and their definition and
-- history stay readable. The revision that archives a segment carries it
-- too.
ALTER TABLE segment.segments ADD COLUMN archive_time timestamptz;
ALTER TABLE segment.segment_revisions ADD COLUMN archive_time timestamptz;

-- +goose Down
ALTER TABLE segment.segment_revisions DROP COLUMN archive_time;
ALTER TABLE segment.segments DROP COLUMN archive_time;
