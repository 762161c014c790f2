-- +goose Up

-- events becomes a table partitioned by month of received_at, converted in
-- place: the old table is renamed, its rows moved into the partitioned one,
-- and dropped.
--
-- Keys. A unique constraint on a partitioned table must contain the
-- partition key (received_at), and on Citus every unique constraint must
-- contain the distribution column (profile_id). The primary key is
-- therefore (profile_id, seq, received_at): seq alone is unique (log_head
-- hands every number out once), profile_id first makes the key also the
-- index of a profile's timeline (profile_id, seq), which replaces
-- events_profile_id_seq_idx, and received_at is carried to satisfy both
-- rules. Reading the log after a cursor uses a plain index on seq.
--
-- Deduplication by message_id cannot stay a unique constraint on events (it
-- would have to include received_at and profile_id, and a retry may carry
-- neither unchanged), so it moves to message_ids, a plain table keyed by
-- message_id that also points at the stored row.
ALTER TABLE event.events RENAME TO events_unpartitioned;
ALTER INDEX event.events_pkey RENAME TO events_unpartitioned_pkey;
ALTER INDEX event.events_message_id_key RENAME TO events_unpartitioned_message_id_key;
ALTER INDEX event.events_profile_id_seq_idx RENAME TO events_unpartitioned_profile_id_seq_idx;

CREATE TABLE event.events (
    seq           bigint      NOT NULL,
    message_id    text        NOT NULL,
    profile_id    text        NOT NULL,
    type          smallint    NOT NULL,
    event         text        NOT NULL,
    identifiers   jsonb       NOT NULL,
    properties    jsonb,
    traits        jsonb,
    context       jsonb,
    occurred_at   timestamptz NOT NULL,
    received_at   timestamptz NOT NULL,
    trace_context jsonb,
    PRIMARY KEY (profile_id, seq, received_at)
) PARTITION BY RANGE (received_at);

-- The log in sequence order, for readers tailing it after a cursor.
CREATE INDEX events_seq_idx ON event.events (seq);

-- Rows outside every monthly partition land here, so an insert never fails.
CREATE TABLE event.events_default PARTITION OF event.events DEFAULT;

-- message_ids deduplicates appends: the first row stored for a message id
-- wins, and (profile_id, seq, received_at) is the primary key of its event.
CREATE TABLE event.message_ids (
    message_id  text        PRIMARY KEY,
    seq         bigint      NOT NULL,
    profile_id  text        NOT NULL,
    received_at timestamptz NOT NULL
);

-- create_events_partition makes sure the partition for the month (UTC) of
-- ts exists, and reports whether it created it. Concurrent callers (several
-- replicas) are serialized by a transaction advisory lock and the second
-- one finds the partition made. Rows of that month already in the DEFAULT
-- partition are moved into the new partition before it is attached, since
-- Postgres refuses to attach a range the DEFAULT partition holds rows of.
-- +goose StatementBegin
CREATE FUNCTION event.create_events_partition(ts timestamptz) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    start_month timestamp := date_trunc('month', ts AT TIME ZONE 'UTC');
    lo          timestamptz := start_month AT TIME ZONE 'UTC';
    hi          timestamptz := (start_month + interval '1 month') AT TIME ZONE 'UTC';
    part        text        := 'events_p' || to_char(start_month, 'YYYYMM');
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('event.create_events_partition'));
    IF to_regclass(format('event.%I', part)) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE event.%I (LIKE event.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
    EXECUTE format('WITH moved AS (DELETE FROM event.events_default WHERE received_at >= %L AND received_at < %L RETURNING *) '
                   'INSERT INTO event.%I SELECT * FROM moved', lo, hi, part);
    EXECUTE format('ALTER TABLE event.events ATTACH PARTITION event.%I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
    RETURN true;
END
$$;
-- +goose StatementEnd

-- Partitions for every month holding rows, and for this month and the next
-- three; the store creates later ones ahead of time.
SELECT event.create_events_partition(m)
FROM (
    SELECT DISTINCT date_trunc('month', received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS m
    FROM event.events_unpartitioned
    UNION
    SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i)) AT TIME ZONE 'UTC'
    FROM generate_series(0, 3) AS i
) AS months
ORDER BY m;

INSERT INTO event.events SELECT * FROM event.events_unpartitioned;
INSERT INTO event.message_ids (message_id, seq, profile_id, received_at)
SELECT message_id, seq, profile_id, received_at FROM event.events_unpartitioned;
DROP TABLE event.events_unpartitioned;

-- +goose Down
CREATE TABLE event.events_unpartitioned (
    seq           bigint      PRIMARY KEY,
    message_id    text        NOT NULL UNIQUE,
    profile_id    text        NOT NULL,
    type          smallint    NOT NULL,
    event         text        NOT NULL,
    identifiers   jsonb       NOT NULL,
    properties    jsonb,
    traits        jsonb,
    context       jsonb,
    occurred_at   timestamptz NOT NULL,
    received_at   timestamptz NOT NULL,
    trace_context jsonb
);
INSERT INTO event.events_unpartitioned SELECT * FROM event.events;
DROP TABLE event.message_ids;
DROP FUNCTION event.create_events_partition(timestamptz);
DROP TABLE event.events;
ALTER TABLE event.events_unpartitioned RENAME TO events;
ALTER INDEX event.events_unpartitioned_pkey RENAME TO events_pkey;
ALTER INDEX event.events_unpartitioned_message_id_key RENAME TO events_message_id_key;
CREATE INDEX events_profile_id_seq_idx ON event.events (profile_id, seq);
