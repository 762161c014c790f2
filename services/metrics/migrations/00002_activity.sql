-- +goose Up

-- The event log's cursor, next to the membership feed's.
INSERT INTO metrics.feed_cursors (feed) VALUES ('event.events');

-- Every membership change applied, so each profile's membership on any
-- past day stays known when a segment's definition changes.
CREATE TABLE metrics.membership_changes (
    seq              bigint PRIMARY KEY,
    segment          text NOT NULL,
    profile          text NOT NULL,
    entered          boolean NOT NULL,
    change_time      timestamptz NOT NULL
);
CREATE INDEX membership_changes_segment_time ON metrics.membership_changes (segment, change_time, seq);

-- Every profile seen in the event log or in a membership change, with the
-- time it was first seen.
CREATE TABLE metrics.profiles (
    profile          text PRIMARY KEY,
    first_seen       timestamptz NOT NULL
);

-- Each profile's orders and email events per UTC day with any.
CREATE TABLE metrics.profile_days (
    profile          text NOT NULL,
    day              date NOT NULL,
    orders           bigint NOT NULL,
    revenue          double precision NOT NULL,
    opens            bigint NOT NULL,
    clicks           bigint NOT NULL,
    unsubscribes     bigint NOT NULL,
    PRIMARY KEY (profile, day)
);
CREATE INDEX profile_days_day ON metrics.profile_days (day);

-- Each segment's experiment: the share of its members held out.
CREATE TABLE metrics.experiments (
    segment          text PRIMARY KEY,
    holdout_share    double precision NOT NULL CHECK (holdout_share >= 0 AND holdout_share <= 0.5),
    update_time      timestamptz NOT NULL
);

-- +goose Down
DROP TABLE metrics.experiments;
DROP TABLE metrics.profile_days;
DROP TABLE metrics.profiles;
DROP TABLE metrics.membership_changes;
DELETE FROM metrics.feed_cursors WHERE feed = 'event.events';
