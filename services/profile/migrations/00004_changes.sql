-- +goose Up

-- notice_head holds the last sequence number of the change log. Appending
-- takes its one row lock and keeps it until commit, so notices commit in
-- sequence order and a reader that sees sequence s also sees every smaller
-- one.
CREATE TABLE profile.notice_head (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_seq bigint  NOT NULL
);
INSERT INTO profile.notice_head (id, last_seq) VALUES (true, 0);

-- notices is the profile change log that the other services consume:
-- merges, unmerges, consent changes and erasures, each appended in the
-- transaction of the change it announces. Profile ids are not foreign keys:
-- an erased profile's notice outlives it.
CREATE TABLE profile.notices (
    seq         bigint      PRIMARY KEY,
    kind        text        NOT NULL,
    notice_time timestamptz NOT NULL,
    profile_id  uuid        NOT NULL,
    other_id    uuid,
    identifiers jsonb       NOT NULL DEFAULT '[]',
    kept        jsonb       NOT NULL DEFAULT '[]',
    rule        text        NOT NULL DEFAULT '',
    consents    jsonb       NOT NULL DEFAULT '[]'
);

-- Finding the notices about a profile, to redact them on erasure.
CREATE INDEX notices_profile_idx ON profile.notices (profile_id);
CREATE INDEX notices_other_idx ON profile.notices (other_id) WHERE other_id IS NOT NULL;

-- +goose Down
DROP TABLE profile.notices;
DROP TABLE profile.notice_head;
