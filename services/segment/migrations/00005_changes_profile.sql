-- +goose Up

-- A profile's membership history, read in change order.
CREATE INDEX changes_profile ON segment.changes (profile, seq);

-- +goose Down
DROP INDEX segment.changes_profile;
