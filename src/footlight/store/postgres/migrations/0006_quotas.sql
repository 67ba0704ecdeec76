-- footlight PostgreSQL store, version 6: what limits and quotas need to be exact and shared.

-- Payload bytes a session stores, kept by the write that stores them, so that a session's
-- size is capped exactly (FOOTLIGHT_MAX_SESSION_BYTES) by the transaction that would pass it.
-- A table of its own rather than a column of `sessions`: growing a narrow row on every push
-- costs a fraction of rewriting a session's wide one.
CREATE TABLE session_sizes (
    session_id      BIGINT PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    stored_bytes    BIGINT NOT NULL
);
INSERT INTO session_sizes (session_id, stored_bytes)
    SELECT s.id, (SELECT coalesce(sum(length(p.body)), 0) FROM payloads p WHERE p.session_id = s.id)
    FROM sessions s;

-- Optional daily quotas (`footlight project create/update --quota-...`); NULL: none.
ALTER TABLE projects ADD COLUMN quota_bytes_per_day BIGINT;
ALTER TABLE projects ADD COLUMN quota_sessions_per_day BIGINT;

-- Per-project daily counters, added to by every footlight process every few seconds
-- (FOOTLIGHT_QUOTA_SYNC_SECONDS): what was accepted ('accepted': requests and request bytes;
-- 'sessions': new sessions) and what each limit refused ('refused:<setting>'). `day` counts
-- UTC days since 1970-01-01. Project 0 holds refusals made before any project was known.
CREATE TABLE project_usage (
    project_id  BIGINT NOT NULL,
    day         BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    count       BIGINT NOT NULL,
    bytes       BIGINT NOT NULL,
    PRIMARY KEY (project_id, day, kind)
);
CREATE INDEX project_usage_by_day ON project_usage(day);
