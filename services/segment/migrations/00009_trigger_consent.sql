-- +goose Up
-- Triggers may require a consent purpose: activation skips profiles without it.
ALTER TABLE segment.triggers ADD COLUMN required_consent text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE segment.triggers DROP COLUMN required_consent;
