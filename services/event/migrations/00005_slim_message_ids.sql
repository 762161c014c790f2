-- message_ids keeps only what deduplication and lookups by message id need:
-- the event's sequence and receive time, which find its row in one partition
-- of event.events (through events_seq_idx). Without profile_id it needs no
-- second index, appends write one index entry less per event, and merges
-- no longer rewrite it.

-- +goose Up
DROP INDEX event.message_ids_profile_id_idx;
ALTER TABLE event.message_ids DROP COLUMN profile_id;

-- +goose Down
ALTER TABLE event.message_ids ADD COLUMN profile_id text NOT NULL DEFAULT '';
UPDATE event.message_ids m SET profile_id = e.profile_id
FROM event.events e WHERE e.seq = m.seq AND e.received_at = m.received_at;
ALTER TABLE event.message_ids ALTER COLUMN profile_id DROP DEFAULT;
CREATE INDEX message_ids_profile_id_idx ON event.message_ids (profile_id);
