-- footlight embedded store, version 2: processing (derived data and its work queue), API
-- tokens and retention.
--
-- Everything below `processing_queue` is derived: processing rebuilds it from the stored
-- input (payloads, OTLP batches, backend errors) and can always be re-run. Each derived row
-- names the input that produced it in `origin` ('session:<id>', 'otlp:<id>',
-- 'backend:<id>'), so re-deriving one input replaces exactly its rows.

ALTER TABLE projects ADD COLUMN retention_days INTEGER;

ALTER TABLE sessions ADD COLUMN email TEXT;
CREATE INDEX sessions_by_identifier ON sessions(project_id, identifier);
CREATE INDEX sessions_by_email ON sessions(project_id, email);

-- Inputs waiting to be (re)processed. A write of new input bumps `version` and pushes
-- `due_at` back; a run completes only the version it read, so input that arrives during a
-- run is processed again. A lease lets several processes share the queue; an expired lease
-- (a crashed run) makes the job claimable again.
CREATE TABLE processing_queue (
    kind                TEXT NOT NULL CHECK (kind IN ('session', 'otlp', 'backend')),
    key                 INTEGER NOT NULL,
    version             INTEGER NOT NULL DEFAULT 1,
    first_enqueued_at   INTEGER NOT NULL,
    due_at              INTEGER NOT NULL,
    lease_owner         TEXT,
    lease_until         INTEGER,
    attempts            INTEGER NOT NULL DEFAULT 0,
    last_error          TEXT,
    PRIMARY KEY (kind, key)
);
CREATE INDEX processing_due ON processing_queue(due_at);

-- Existing input from version 1 is processed once after the upgrade.
INSERT INTO processing_queue (kind, key, first_enqueued_at, due_at)
    SELECT 'session', id, 0, 0 FROM sessions;
INSERT INTO processing_queue (kind, key, first_enqueued_at, due_at)
    SELECT 'otlp', id, 0, 0 FROM otlp_batches;
INSERT INTO processing_queue (kind, key, first_enqueued_at, due_at)
    SELECT 'backend', id, 0, 0 FROM backend_errors;

CREATE TABLE session_summaries (
    session_id          INTEGER PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    processed_at        INTEGER NOT NULL,
    started_at          INTEGER,
    ended_at            INTEGER,
    length_ms           INTEGER NOT NULL,
    active_ms           INTEGER NOT NULL,
    pages_visited       INTEGER NOT NULL,
    click_count         INTEGER NOT NULL,
    rage_click_count    INTEGER NOT NULL,
    event_count         INTEGER NOT NULL,
    payload_count       INTEGER NOT NULL,
    error_count         INTEGER NOT NULL,
    console_count       INTEGER NOT NULL,
    network_count       INTEGER NOT NULL,
    browser_name        TEXT,
    browser_version     TEXT,
    os_name             TEXT,
    os_version          TEXT,
    device_type         TEXT,
    language            TEXT,
    landing_page        TEXT,
    exit_page           TEXT,
    details             TEXT NOT NULL  -- JSON: intervals, rage clicks, event counts
);
CREATE INDEX session_summaries_by_active ON session_summaries(active_ms);

CREATE TABLE session_pages (
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    timestamp   INTEGER NOT NULL,
    url         TEXT NOT NULL
);
CREATE INDEX session_pages_by_session ON session_pages(session_id);

CREATE TABLE console_messages (
    id                  INTEGER PRIMARY KEY,
    session_secure_id   TEXT NOT NULL,
    origin              TEXT NOT NULL,
    timestamp           INTEGER NOT NULL,
    level               TEXT NOT NULL,
    message             TEXT NOT NULL,
    trace               TEXT NOT NULL,
    attributes          TEXT NOT NULL
);
CREATE INDEX console_by_session ON console_messages(session_secure_id, timestamp);
CREATE INDEX console_by_origin ON console_messages(origin);

CREATE TABLE network_requests (
    id                  INTEGER PRIMARY KEY,
    session_secure_id   TEXT NOT NULL,
    origin              TEXT NOT NULL,
    started_at          REAL NOT NULL,
    ended_at            REAL,
    method              TEXT,
    url                 TEXT NOT NULL,
    status              INTEGER,
    initiator           TEXT,
    request             TEXT,
    response            TEXT,
    transfer_size       INTEGER,
    trace_id            TEXT,
    span_id             TEXT
);
CREATE INDEX network_by_session ON network_requests(session_secure_id, started_at);
CREATE INDEX network_by_origin ON network_requests(origin);

CREATE TABLE websocket_events (
    id                  INTEGER PRIMARY KEY,
    session_secure_id   TEXT NOT NULL,
    origin              TEXT NOT NULL,
    timestamp           REAL NOT NULL,
    socket_id           TEXT NOT NULL,
    type                TEXT NOT NULL,
    name                TEXT NOT NULL,
    size                INTEGER,
    message             TEXT
);
CREATE INDEX websocket_by_session ON websocket_events(session_secure_id, timestamp);
CREATE INDEX websocket_by_origin ON websocket_events(origin);

-- An error group is (project_id, fingerprint); its counts are aggregates over this table.
CREATE TABLE errors (
    id                  INTEGER PRIMARY KEY,
    project_id          INTEGER,
    session_secure_id   TEXT,
    origin              TEXT NOT NULL,
    fingerprint         TEXT NOT NULL,
    timestamp           INTEGER NOT NULL,
    type                TEXT NOT NULL,
    message             TEXT NOT NULL,
    frames              TEXT NOT NULL,
    url                 TEXT,
    payload             TEXT,
    source              TEXT NOT NULL
);
CREATE INDEX errors_by_group ON errors(project_id, fingerprint, timestamp);
CREATE INDEX errors_by_project_time ON errors(project_id, timestamp);
CREATE INDEX errors_by_session ON errors(session_secure_id, timestamp);
CREATE INDEX errors_by_origin ON errors(origin);

CREATE TABLE track_events (
    id                  INTEGER PRIMARY KEY,
    session_secure_id   TEXT NOT NULL,
    origin              TEXT NOT NULL,
    timestamp           INTEGER NOT NULL,
    name                TEXT NOT NULL,
    properties          TEXT NOT NULL
);
CREATE INDEX track_by_session ON track_events(session_secure_id, timestamp);
CREATE INDEX track_by_origin ON track_events(origin);

CREATE TABLE spans (
    id                  INTEGER PRIMARY KEY,
    session_secure_id   TEXT,
    origin              TEXT NOT NULL,
    trace_id            TEXT NOT NULL,
    span_id             TEXT NOT NULL,
    parent_span_id      TEXT,
    name                TEXT NOT NULL,
    kind                TEXT,
    started_at          REAL NOT NULL,
    ended_at            REAL,
    status_code         TEXT,
    service_name        TEXT,
    attributes          TEXT NOT NULL,
    events              TEXT NOT NULL
);
CREATE INDEX spans_by_session ON spans(session_secure_id, started_at);
CREATE INDEX spans_by_origin ON spans(origin);

CREATE TABLE otlp_metrics (
    id                  INTEGER PRIMARY KEY,
    session_secure_id   TEXT,
    origin              TEXT NOT NULL,
    name                TEXT NOT NULL,
    timestamp           REAL NOT NULL,
    value               REAL NOT NULL,
    attributes          TEXT NOT NULL
);
CREATE INDEX otlp_metrics_by_session ON otlp_metrics(session_secure_id, timestamp);
CREATE INDEX otlp_metrics_by_origin ON otlp_metrics(origin);

-- Read-API credentials. Only a hash is kept: the token is shown once, at creation.
CREATE TABLE api_tokens (
    id              INTEGER PRIMARY KEY,
    token_hash      BLOB NOT NULL UNIQUE,
    project_id      INTEGER REFERENCES projects(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER
);
