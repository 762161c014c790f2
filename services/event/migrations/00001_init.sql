-- +goose Up

-- log_head holds the last sequence number handed out. Appending takes its one
-- row lock and keeps it until commit, so batches commit in sequence order and
-- a reader that sees sequence s also sees every smaller one.
CREATE TABLE event.log_head (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_seq bigint  NOT NULL
);
INSERT INTO event.log_head (id, last_seq) VALUES (true, 0);

-- events is the append-only log.
CREATE TABLE event.events (
    seq           bigint      PRIMARY KEY,
    message_id    text        NOT NULL UNIQUE,
    profile_id    text        NOT NULL,
    type          smallint    NOT NULL,
    event         text        NOT NULL,
    identifiers   jsonb       NOT NULL,
    properties    jsonb,
    traits        jsonb,
    context       jsonb,
    occurred_at   timestamptz NOT NULL,
    received_at   timestamptz NOT NULL,
    trace_context jsonb
);

-- A profile's timeline, oldest first.
CREATE INDEX events_profile_id_seq_idx ON event.events (profile_id, seq);

-- +goose Down
DROP TABLE event.events;
DROP TABLE event.log_head;
