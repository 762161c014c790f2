-- Unmerges applied to the log, for the events resolved before one was
-- applied here and appended after it: such an event, resolved to the
-- survivor, belongs to the restored profile when it carries one of the
-- identifiers moved back and none of those kept (event.Unmerge). The
-- identifiers are kept as SHA-256 hashes of type:value, so that none
-- outlives the erasure of its person's events. log_head.last_unmerge is the
-- last unmerge applied, read by every append with its sequences (under the
-- same row lock), so that appends resolved after it skip the lookup.

-- +goose Up
CREATE TABLE event.profile_unmerges (
    seq      bigint  PRIMARY KEY,
    survivor text    NOT NULL,
    restored text    NOT NULL,
    moved    bytea[] NOT NULL,
    kept     bytea[] NOT NULL
);

CREATE INDEX profile_unmerges_survivor_idx ON event.profile_unmerges (survivor, seq);

ALTER TABLE event.log_head ADD COLUMN last_unmerge bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE event.log_head DROP COLUMN last_unmerge;
DROP TABLE event.profile_unmerges;
