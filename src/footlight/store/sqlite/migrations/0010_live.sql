-- footlight embedded store, version 10: live sessions.
--
-- A session's console, network, errors, track events, pages and summary are derived while it
-- records, a few payloads at a time, by a `live` job that each stored payload queues. Its rows
-- are appended under the origin 'live:<session id>'; `live_cursors` names the last payload
-- (payload_id, seq) they cover (NULL: none yet), moved in the transaction that appends them,
-- so a run that crashes appends nothing and the next one starts where the last commit ended.
-- Processing the finished session replaces the live rows with its own and moves the cursor to
-- its last payload. Both lock the cursor's row first, so the two never interleave.
--
-- SQLite cannot change a CHECK constraint in place: the queue is rebuilt with 'live' allowed.
CREATE TABLE processing_queue_v10 (
    kind                TEXT NOT NULL CHECK (kind IN ('session', 'otlp', 'backend', 'live')),
    key                 INTEGER NOT NULL,
    version             INTEGER NOT NULL DEFAULT 1,
    first_enqueued_at   INTEGER NOT NULL,
    due_at              INTEGER NOT NULL,
    lease_owner         TEXT,
    lease_until         INTEGER,
    attempts            INTEGER NOT NULL DEFAULT 0,
    last_error          TEXT,
    quarantined_at      INTEGER,
    PRIMARY KEY (kind, key)
);
INSERT INTO processing_queue_v10 SELECT kind, key, version, first_enqueued_at, due_at,
    lease_owner, lease_until, attempts, last_error, quarantined_at FROM processing_queue;
DROP TABLE processing_queue;
ALTER TABLE processing_queue_v10 RENAME TO processing_queue;
CREATE INDEX processing_due ON processing_queue(due_at);

CREATE TABLE live_cursors (
    session_id          INTEGER PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    payload_id          INTEGER,
    seq                 INTEGER
);
