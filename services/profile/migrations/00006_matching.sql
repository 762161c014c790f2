-- +goose Up

-- The latest weak signals of each profile, for probabilistic matching.
-- seq orders changes: the matcher reads the rows changed since its last
-- pass. keys are the blocking keys derived from the signals. Rows go with
-- their profile when it is erased.
CREATE SEQUENCE profile.match_signals_seq;

CREATE TABLE profile.match_signals (
    profile_id  uuid PRIMARY KEY REFERENCES profile.profiles (id) ON DELETE CASCADE,
    fingerprint text NOT NULL DEFAULT '',
    ip          text NOT NULL DEFAULT '',
    user_agent  text NOT NULL DEFAULT '',
    name        text NOT NULL DEFAULT '',
    postcode    text NOT NULL DEFAULT '',
    keys        text[] NOT NULL DEFAULT '{}',
    seq         bigint NOT NULL DEFAULT nextval('profile.match_signals_seq'),
    update_time timestamptz NOT NULL
);

CREATE INDEX match_signals_seq_idx ON profile.match_signals (seq);
CREATE INDEX match_signals_keys_idx ON profile.match_signals USING gin (keys);

-- Pairs of profiles that may be one person: pending review, merged
-- automatically, accepted or rejected. One row per pair (profile_a <
-- profile_b), so that a decided pair is never proposed again.
CREATE TABLE profile.match_candidates (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    profile_a     uuid NOT NULL REFERENCES profile.profiles (id) ON DELETE CASCADE,
    profile_b     uuid NOT NULL REFERENCES profile.profiles (id) ON DELETE CASCADE,
    score         double precision NOT NULL,
    agreements    text[] NOT NULL DEFAULT '{}',
    conflicts     text[] NOT NULL DEFAULT '{}',
    state         text NOT NULL CHECK (state IN ('pending', 'merged', 'accepted', 'rejected')),
    create_time   timestamptz NOT NULL,
    review_time   timestamptz,
    review_reason text NOT NULL DEFAULT '',
    UNIQUE (profile_a, profile_b),
    CHECK (profile_a < profile_b)
);

CREATE INDEX match_candidates_state_idx ON profile.match_candidates (state, id);
CREATE INDEX match_candidates_b_idx ON profile.match_candidates (profile_b);

-- +goose Down
DROP TABLE profile.match_candidates;
DROP TABLE profile.match_signals;
DROP SEQUENCE profile.match_signals_seq;
