-- +goose Up

-- A profile's latest consents by purpose, as the profile service announced
-- them: {"email": true, "sms": false}.
ALTER TABLE segment.profiles ADD COLUMN consents jsonb NOT NULL DEFAULT '{}';

-- A profile's trigger deliveries, to delete them on erasure.
CREATE INDEX deliveries_profile ON segment.deliveries (profile);

-- +goose Down
DROP INDEX segment.deliveries_profile;
ALTER TABLE segment.profiles DROP COLUMN consents;
