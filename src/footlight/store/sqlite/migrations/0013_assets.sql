-- footlight embedded store, version 13: the assets a recording needs to replay.
--
-- A project that lists origins in `asset_origins` has the stylesheets, fonts and images its
-- recordings reference on those origins fetched shortly after each push (an `assets` job per
-- session) and kept here, so a replay next month still looks like the recorded page.
--
-- `assets` holds the bytes, addressed by their SHA-256: the same file seen by a thousand
-- sessions, or by two projects, is kept once. `linked_at` is the last time a session linked
-- it; retention deletes an asset no session references only once that is an hour old, so a
-- purge never races a capture that is linking it right now.
--
-- `session_assets` is what one session referenced and what came of it: 'stored' (with the
-- digest), 'failed' (the fetch was refused or went wrong; `reason` says which) or 'skipped'
-- (not fetched: an origin not listed, a cap reached). Fetched once per session; within
-- FOOTLIGHT_ASSET_REFETCH_SECONDS a URL another session of the project stored is linked
-- without fetching it again (by `session_assets_by_url`).
--
-- `asset_cursors` is how far a session's payloads have been scanned for URLs, and how many
-- URLs went unrecorded past the per-session cap.
CREATE TABLE asset_origins (
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    origin      TEXT NOT NULL,
    PRIMARY KEY (project_id, origin)
) WITHOUT ROWID;

CREATE TABLE assets (
    digest          BLOB NOT NULL PRIMARY KEY,
    content_type    TEXT NOT NULL,
    size            INTEGER NOT NULL,
    linked_at       INTEGER NOT NULL,
    body            BLOB NOT NULL
);

CREATE TABLE session_assets (
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    project_id  INTEGER NOT NULL,
    seen_at     INTEGER NOT NULL,
    fetched_at  INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('stored', 'failed', 'skipped')),
    digest      BLOB,
    final_url   TEXT,
    reason      TEXT,
    PRIMARY KEY (session_id, url)
);
CREATE INDEX session_assets_by_url ON session_assets(project_id, url, fetched_at);
CREATE INDEX session_assets_by_digest ON session_assets(digest);

CREATE TABLE asset_cursors (
    session_id  INTEGER PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    payload_id  INTEGER,
    seq         INTEGER,
    dropped     INTEGER NOT NULL DEFAULT 0
);

-- SQLite cannot change a CHECK constraint in place: the queue is rebuilt with 'assets' allowed.
CREATE TABLE processing_queue_v13 (
    kind                TEXT NOT NULL
                        CHECK (kind IN ('session', 'otlp', 'backend', 'live', 'assets')),
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
INSERT INTO processing_queue_v13 SELECT kind, key, version, first_enqueued_at, due_at,
    lease_owner, lease_until, attempts, last_error, quarantined_at FROM processing_queue;
DROP TABLE processing_queue;
ALTER TABLE processing_queue_v13 RENAME TO processing_queue;
CREATE INDEX processing_due ON processing_queue(due_at);
