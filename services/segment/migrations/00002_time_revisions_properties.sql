-- +goose Up

-- The next instant at which one of the profile's memberships can change by
-- time passing alone (an event leaving a window, one more day since an
-- event); NULL when none can. The scheduler reads the due profiles through
-- the partial index, never scanning the others.
ALTER TABLE segment.profiles ADD COLUMN next_check timestamptz;
CREATE INDEX profiles_next_check ON segment.profiles (next_check, profile) WHERE next_check IS NOT NULL;

-- The string and boolean top-level properties of each event, which
-- property filters test.
ALTER TABLE segment.facts
    ADD COLUMN strings jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN flags   jsonb NOT NULL DEFAULT '{}';

-- Every revision of every segment definition, with who made it and why;
-- segments holds the current one.
ALTER TABLE segment.segments
    ADD COLUMN revision_author text NOT NULL DEFAULT '',
    ADD COLUMN revision_reason text NOT NULL DEFAULT '';
CREATE TABLE segment.segment_revisions (
    segment          text NOT NULL REFERENCES segment.segments (id),
    revision         bigint NOT NULL,
    display_name     text NOT NULL,
    description      text NOT NULL,
    condition        text NOT NULL,
    author           text NOT NULL,
    reason           text NOT NULL,
    update_time      timestamptz NOT NULL,
    PRIMARY KEY (segment, revision)
);
INSERT INTO segment.segment_revisions (segment, revision, display_name, description, condition, author, reason, update_time)
SELECT id, revision, display_name, description, condition, '', '', update_time FROM segment.segments;

-- +goose Down
DROP TABLE segment.segment_revisions;
ALTER TABLE segment.segments DROP COLUMN revision_reason, DROP COLUMN revision_author;
ALTER TABLE segment.facts DROP COLUMN flags, DROP COLUMN strings;
DROP INDEX segment.profiles_next_check;
ALTER TABLE segment.profiles DROP COLUMN next_check;
