-- +goose Up

-- Segment definitions.
CREATE TABLE segment.segments (
    id               text PRIMARY KEY,
    display_name     text NOT NULL DEFAULT '',
    description      text NOT NULL DEFAULT '',
    condition        text NOT NULL,
    revision         bigint NOT NULL,
    create_time      timestamptz NOT NULL,
    update_time      timestamptz NOT NULL
);

-- Profiles the service has seen events of, with their latest traits.
CREATE TABLE segment.profiles (
    profile          text PRIMARY KEY,
    traits           jsonb NOT NULL DEFAULT '{}'
);

-- What evaluation needs of each event: its name, time and numeric
-- top-level properties. Keyed by profile first so it can be distributed by
-- profile.
CREATE TABLE segment.facts (
    profile          text NOT NULL,
    seq              bigint NOT NULL,
    name             text NOT NULL,
    event_time       timestamptz NOT NULL,
    numbers          jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (profile, seq)
);
CREATE INDEX facts_profile_name ON segment.facts (profile, name, event_time);

-- Current memberships.
CREATE TABLE segment.memberships (
    segment          text NOT NULL REFERENCES segment.segments (id),
    profile          text NOT NULL,
    enter_time       timestamptz NOT NULL,
    segment_revision bigint NOT NULL,
    PRIMARY KEY (segment, profile)
);
CREATE INDEX memberships_profile ON segment.memberships (profile, segment);

-- The membership change log. seq is 1, 2, 3... without gaps, assigned from
-- segment.state under its row lock, which every write transaction holds
-- until it commits: readers never see a later change before an earlier one.
CREATE TABLE segment.changes (
    seq              bigint PRIMARY KEY,
    segment          text NOT NULL,
    profile          text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('entered', 'exited')),
    change_time      timestamptz NOT NULL,
    segment_revision bigint NOT NULL,
    reason           text NOT NULL,
    trace_context    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX changes_segment ON segment.changes (segment, seq);

-- One row: the cursor of the last event applied and the last change
-- number. Locking it serializes write transactions.
CREATE TABLE segment.state (
    id               boolean PRIMARY KEY DEFAULT true CHECK (id),
    event_cursor     bigint NOT NULL DEFAULT 0,
    last_change      bigint NOT NULL DEFAULT 0
);
INSERT INTO segment.state DEFAULT VALUES;

-- +goose Down
DROP TABLE segment.state;
DROP TABLE segment.changes;
DROP TABLE segment.memberships;
DROP TABLE segment.facts;
DROP TABLE segment.profiles;
DROP TABLE segment.segments;
