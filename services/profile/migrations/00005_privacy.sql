-- +goose Up

-- The secret that keys the hashes of suppressed identifiers, unless the
-- service is given one (--suppression-key). It is made here, per database,
-- from Postgres's strong random source, and never leaves the database but
-- to the profile service.
CREATE TABLE profile.secrets (
    name  text PRIMARY KEY,
    value bytea NOT NULL
);
INSERT INTO profile.secrets (name, value)
VALUES ('suppression_key', decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));

-- Identifiers of erased people, as HMAC-SHA256 of "type:value" under the
-- suppression key: enough to refuse the identifier when it comes back, not
-- enough to tell what it was. A suppressed identifier never creates or
-- joins a profile again.
CREATE TABLE profile.suppressions (
    hash          bytea PRIMARY KEY,
    suppress_time timestamptz NOT NULL
);

-- One row per erasure, as evidence that it happened: when, and how much it
-- removed. It names no profile and no identifier.
CREATE TABLE profile.erasures (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    erase_time  timestamptz NOT NULL,
    profiles    integer NOT NULL,
    identifiers integer NOT NULL,
    consents    integer NOT NULL,
    merges      integer NOT NULL
);

-- +goose Down
DROP TABLE profile.erasures;
DROP TABLE profile.suppressions;
DROP TABLE profile.secrets;
