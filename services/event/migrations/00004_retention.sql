-- +goose Up

-- retention remembers up to when events were anonymized, so that each run
-- of the retention policy in anonymize mode reads only the events that
-- aged past the cutoff since the previous run.
CREATE TABLE event.retention (
    id                boolean PRIMARY KEY DEFAULT true CHECK (id),
    anonymized_before timestamptz NOT NULL
);
INSERT INTO event.retention (id, anonymized_before) VALUES (true, '0001-01-01 00:00:00+00');

-- +goose Down
DROP TABLE event.retention;
