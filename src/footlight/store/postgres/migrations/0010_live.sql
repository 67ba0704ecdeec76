-- footlight PostgreSQL store, version 10: live sessions.
--
-- A session's console, network, errors, track events, pages and summary are derived while it
-- records, a few payloads at a time, by a `live` job that each stored payload queues. Its rows
-- are appended under the origin 'live:<session id>'; `live_cursors` names the last payload
-- (payload_id, seq) they cover (NULL: none yet), moved in the transaction that appends them,
-- so a run that crashes appends nothing and the next one starts where the last commit ended.
-- Processing the finished session replaces the live rows with its own and moves the cursor to
-- its last payload. Both lock the cursor's row first, so the two never interleave.
ALTER TABLE processing_queue DROP CONSTRAINT processing_queue_kind_check;
ALTER TABLE processing_queue ADD CONSTRAINT processing_queue_kind_check
    CHECK (kind IN ('session', 'otlp', 'backend', 'live'));

CREATE TABLE live_cursors (
    session_id          BIGINT PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    payload_id          BIGINT,
    seq                 BIGINT
);
