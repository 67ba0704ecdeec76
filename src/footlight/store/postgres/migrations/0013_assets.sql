-- footlight PostgreSQL store, version 13: the assets a recording needs to replay.
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
ALTER TABLE processing_queue DROP CONSTRAINT processing_queue_kind_check;
ALTER TABLE processing_queue ADD CONSTRAINT processing_queue_kind_check
    CHECK (kind IN ('session', 'otlp', 'backend', 'live', 'assets'));

CREATE TABLE asset_origins (
    project_id  BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    origin      TEXT NOT NULL,
    PRIMARY KEY (project_id, origin)
);

CREATE TABLE assets (
    digest          BYTEA PRIMARY KEY,
    content_type    TEXT NOT NULL,
    size            BIGINT NOT NULL,
    linked_at       BIGINT NOT NULL,
    body            BYTEA NOT NULL
);
-- Fonts and images are compressed already; TOAST's pglz would only spend CPU on them.
ALTER TABLE assets ALTER COLUMN body SET STORAGE EXTERNAL;

CREATE TABLE session_assets (
    session_id  BIGINT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    project_id  BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL,
    fetched_at  BIGINT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('stored', 'failed', 'skipped')),
    digest      BYTEA,
    final_url   TEXT,
    reason      TEXT,
    PRIMARY KEY (session_id, url)
);
CREATE INDEX session_assets_by_url ON session_assets(project_id, url, fetched_at);
CREATE INDEX session_assets_by_digest ON session_assets(digest);

CREATE TABLE asset_cursors (
    session_id  BIGINT PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    payload_id  BIGINT,
    seq         BIGINT,
    dropped     BIGINT NOT NULL DEFAULT 0
);
