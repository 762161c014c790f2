-- +goose Up

-- The position of each feed the service consumes: the cursor of the last
-- entry applied, written in the same transaction as its effects. Locking a
-- feed's row serializes the transactions that apply it (replicas included).
-- Later feeds (such as the event log, for conversion and order value) add
-- their own rows.
CREATE TABLE metrics.feed_cursors (
    feed             text PRIMARY KEY,
    seq              bigint NOT NULL DEFAULT 0 CHECK (seq >= 0)
);
INSERT INTO metrics.feed_cursors (feed) VALUES ('segment.membership_changes');

-- Each segment's all-time totals; a row exists once a change of the
-- segment has been applied.
CREATE TABLE metrics.segment_totals (
    segment          text PRIMARY KEY,
    size             bigint NOT NULL,
    entered_total    bigint NOT NULL,
    exited_total     bigint NOT NULL,
    update_time      timestamptz NOT NULL
);

-- Each segment's movement per UTC day with changes. size is the size at
-- the end of the day: every entry minus every exit up to and including it.
CREATE TABLE metrics.segment_days (
    segment          text NOT NULL,
    day              date NOT NULL,
    entered          bigint NOT NULL,
    exited           bigint NOT NULL,
    size             bigint NOT NULL,
    PRIMARY KEY (segment, day)
);

-- +goose Down
DROP TABLE metrics.segment_days;
DROP TABLE metrics.segment_totals;
DROP TABLE metrics.feed_cursors;
