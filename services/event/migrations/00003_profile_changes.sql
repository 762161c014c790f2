-- +goose Up

-- profile_updates are the markers of profile changes in the log: they share
-- the sequence of event.events (handed out by log_head), so that readers
-- of the log after a cursor see them in order with the events.
CREATE TABLE event.profile_updates (
    seq         bigint      PRIMARY KEY,
    kind        smallint    NOT NULL,
    profiles    text[]      NOT NULL,
    consents    jsonb,
    update_time timestamptz NOT NULL
);

-- profile_cursor is the position in the profile service's change log of the
-- last change applied, written in the transaction that applies it.
CREATE TABLE event.profile_cursor (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_seq bigint  NOT NULL
);
INSERT INTO event.profile_cursor (id, last_seq) VALUES (true, 0);

-- A profile's message ids, to delete them with its events on erasure and
-- to re-key them on a merge.
CREATE INDEX message_ids_profile_id_idx ON event.message_ids (profile_id);

-- profile_redirects maps each profile merged away to the live profile its
-- events now belong to. An append resolved before a merge but committed
-- after the merge was applied here carries the old id: the append stores
-- it under the survivor instead.
CREATE TABLE event.profile_redirects (
    from_id text PRIMARY KEY,
    to_id   text NOT NULL
);
CREATE INDEX profile_redirects_to_id_idx ON event.profile_redirects (to_id);

-- +goose Down
DROP TABLE event.profile_redirects;
DROP INDEX event.message_ids_profile_id_idx;
DROP TABLE event.profile_cursor;
DROP TABLE event.profile_updates;
