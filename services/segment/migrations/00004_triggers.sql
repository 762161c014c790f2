-- +goose Up

-- Webhook triggers on segment enter/exit.
CREATE TABLE segment.triggers (
    id               text PRIMARY KEY,
    segment          text NOT NULL REFERENCES segment.segments (id),
    kind             smallint NOT NULL,
    delay_ms         bigint NOT NULL,
    url              text NOT NULL,
    secret           text NOT NULL,
    create_time      timestamptz NOT NULL
);

-- The deliveries owed, pending and done: the pending ones survive
-- restarts; the others are the delivery log.
CREATE TABLE segment.deliveries (
    id               bigserial PRIMARY KEY,
    trigger          text NOT NULL REFERENCES segment.triggers (id),
    change_seq       bigint NOT NULL,
    segment          text NOT NULL,
    profile          text NOT NULL,
    kind             smallint NOT NULL,
    change_time      timestamptz NOT NULL,
    due_time         timestamptz NOT NULL,
    state            smallint NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    last_status      integer NOT NULL DEFAULT 0,
    last_error       text NOT NULL DEFAULT '',
    done_time        timestamptz,
    UNIQUE (trigger, change_seq)
);
CREATE INDEX deliveries_due ON segment.deliveries (trigger, due_time, id) WHERE state = 1;
CREATE INDEX deliveries_log ON segment.deliveries (trigger, id);

-- How far in the change log deliveries have been created.
CREATE TABLE segment.trigger_cursor (
    change_seq       bigint NOT NULL
);
INSERT INTO segment.trigger_cursor VALUES (0);

-- +goose Down
DROP TABLE segment.trigger_cursor;
DROP TABLE segment.deliveries;
DROP TABLE segment.triggers;
