-- footlight PostgreSQL store, version 12: payloads in monthly partitions, by the month their
-- session started, so that retention gives disk back.
--
-- Deleting old payloads row by row (what a purge did) leaves their space to the table:
-- VACUUM lets new rows reuse it, but the database never shrinks. A partition holds whole
-- sessions (all of a session's payloads share its start), and once its month is older than
-- every project's retention the purge drops it: its disk goes back at once. Sessions whose
-- project keeps less are still deleted row by row, as before.
--
-- `session_created_at` is the session's start, written by the push's insert (a row without
-- one, written straight into the database, goes to the DEFAULT partition). The unique key
-- that makes retries idempotent must include the partition key; as the column follows from
-- `session_id`, it finds the same duplicates as before. The DEFAULT partition takes rows of
-- a month that has no partition (footlight makes them ahead: at start and with each purge);
-- it is purged row by row, never dropped.
CREATE SEQUENCE payloads_seq_v12 AS BIGINT;
SELECT setval('payloads_seq_v12', coalesce((SELECT max(seq) FROM payloads), 0) + 1, false);

CREATE TABLE payloads_v12 (
    seq                 BIGINT NOT NULL DEFAULT nextval('payloads_seq_v12'),
    session_id          BIGINT NOT NULL REFERENCES sessions(id),
    payload_id          BIGINT NOT NULL,
    digest              BYTEA NOT NULL,
    source              TEXT NOT NULL CHECK (source IN ('compressed', 'legacy')),
    received_at         BIGINT NOT NULL,
    event_count         BIGINT NOT NULL,
    first_event_at      BIGINT,
    last_event_at       BIGINT,
    has_full_snapshot   BIGINT NOT NULL,
    body                BYTEA NOT NULL,
    session_created_at  BIGINT
) PARTITION BY RANGE (session_created_at);
CREATE TABLE payloads_default PARTITION OF payloads_v12 DEFAULT;

-- A partition for each month that has sessions, before the rows are copied in.
DO $$
DECLARE
    month timestamptz;
BEGIN
    FOR month IN
        SELECT DISTINCT date_trunc('month', to_timestamp(created_at / 1000.0), 'UTC')
        FROM sessions
    LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF payloads_v12 FOR VALUES FROM (%s) TO (%s)',
            'payloads_' || to_char(month AT TIME ZONE 'UTC', 'YYYY_MM'),
            (extract(epoch FROM month) * 1000)::bigint,
            (extract(epoch FROM month + interval '1 month') * 1000)::bigint
        );
    END LOOP;
END
$$;

INSERT INTO payloads_v12 (seq, session_id, payload_id, digest, source, received_at,
    event_count, first_event_at, last_event_at, has_full_snapshot, body, session_created_at)
SELECT p.seq, p.session_id, p.payload_id, p.digest, p.source, p.received_at, p.event_count,
    p.first_event_at, p.last_event_at, p.has_full_snapshot, p.body, s.created_at
FROM payloads p JOIN sessions s ON s.id = p.session_id;

DROP TABLE payloads;
ALTER TABLE payloads_v12 RENAME TO payloads;
ALTER SEQUENCE payloads_seq_v12 OWNED BY payloads.seq;
-- A primary key would have to include the partition key, which is empty for rows written
-- straight into the database; `seq` comes from its sequence, and this index finds it.
CREATE INDEX payloads_seq ON payloads(seq);
CREATE UNIQUE INDEX payloads_once ON payloads(session_id, payload_id, digest, session_created_at);
