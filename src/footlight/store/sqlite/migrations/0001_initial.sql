-- footlight embedded store, version 1: projects, sessions and everything the SDK sends,
-- kept as received. Times are epoch milliseconds.

CREATE TABLE projects (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Extra public keys a project answers to at initializeSession (old Highlight project ids,
-- LaunchDarkly client-side ids), besides its numeric id and its hashid.
CREATE TABLE project_keys (
    key         TEXT PRIMARY KEY,
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE
);

CREATE TABLE sessions (
    id                                  INTEGER PRIMARY KEY,
    secure_id                           TEXT NOT NULL UNIQUE,
    project_id                          INTEGER NOT NULL REFERENCES projects(id),
    created_at                          INTEGER NOT NULL,
    client_id                           TEXT,
    fingerprint                         TEXT,
    environment                         TEXT,
    app_version                         TEXT,
    service_name                        TEXT,
    client_version                      TEXT,
    firstload_version                   TEXT,
    client_config                       TEXT,
    privacy_setting                     TEXT,
    enable_strict_privacy               INTEGER,
    enable_recording_network_contents   INTEGER,
    disable_session_recording           INTEGER,
    network_recording_domains           TEXT,
    session_key                         TEXT,
    user_agent                          TEXT,
    accept_language                     TEXT,
    identifier                          TEXT,
    user_object                         TEXT,
    identified_at                       INTEGER
);
CREATE INDEX sessions_by_project_created ON sessions(project_id, created_at);
CREATE INDEX sessions_by_client ON sessions(project_id, client_id);

-- One row per push. `body` is gzip(JSON) in the SDK's PushPayload shape, as received;
-- `digest` is a hash of the decompressed JSON, so a retry of the same content is ignored
-- while a different payload that reuses an id is still kept.
CREATE TABLE payloads (
    seq                 INTEGER PRIMARY KEY,
    session_id          INTEGER NOT NULL REFERENCES sessions(id),
    payload_id          INTEGER NOT NULL,
    digest              BLOB NOT NULL,
    source              TEXT NOT NULL CHECK (source IN ('compressed', 'legacy')),
    received_at         INTEGER NOT NULL,
    event_count         INTEGER NOT NULL,
    first_event_at      INTEGER,
    last_event_at       INTEGER,
    has_full_snapshot   INTEGER NOT NULL,
    body                BLOB NOT NULL
);
CREATE UNIQUE INDEX payloads_once ON payloads(session_id, payload_id, digest);

CREATE TABLE session_fields (
    session_id  INTEGER NOT NULL REFERENCES sessions(id),
    kind        TEXT NOT NULL CHECK (kind IN ('user', 'session', 'track')),
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (session_id, kind, key, value)
) WITHOUT ROWID;

CREATE TABLE feedback (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions(id),
    verbatim    TEXT NOT NULL,
    timestamp   INTEGER NOT NULL,
    user_name   TEXT,
    user_email  TEXT,
    received_at INTEGER NOT NULL,
    UNIQUE (session_id, timestamp, verbatim)
);

CREATE TABLE metrics (
    id              INTEGER PRIMARY KEY,
    session_id      INTEGER NOT NULL REFERENCES sessions(id),
    name            TEXT NOT NULL,
    value           REAL NOT NULL,
    timestamp       INTEGER NOT NULL,
    group_name      TEXT,
    category        TEXT,
    span_id         TEXT,
    parent_span_id  TEXT,
    trace_id        TEXT,
    tags            TEXT NOT NULL,
    digest          BLOB NOT NULL,
    received_at     INTEGER NOT NULL,
    UNIQUE (session_id, digest)
);

CREATE TABLE backend_errors (
    id                  INTEGER PRIMARY KEY,
    project_id          INTEGER NOT NULL REFERENCES projects(id),
    session_id          INTEGER REFERENCES sessions(id),
    session_secure_id   TEXT,
    request_id          TEXT,
    trace_id            TEXT,
    span_id             TEXT,
    log_cursor          TEXT,
    event               TEXT NOT NULL,
    type                TEXT NOT NULL,
    url                 TEXT NOT NULL,
    source              TEXT NOT NULL,
    stack_trace         TEXT NOT NULL,
    timestamp           INTEGER NOT NULL,
    payload             TEXT,
    service_name        TEXT,
    service_version     TEXT,
    environment         TEXT,
    digest              BLOB NOT NULL,
    received_at         INTEGER NOT NULL,
    UNIQUE (project_id, digest)
);

-- OTLP/HTTP export requests as received; decoded into spans, logs and metrics by processing.
CREATE TABLE otlp_batches (
    id                  INTEGER PRIMARY KEY,
    signal              TEXT NOT NULL CHECK (signal IN ('traces', 'metrics', 'logs')),
    content_type        TEXT NOT NULL,
    content_encoding    TEXT,
    digest              BLOB NOT NULL UNIQUE,
    received_at         INTEGER NOT NULL,
    body                BLOB NOT NULL
);

-- /readyz proves the store takes durable writes by committing to this one row.
CREATE TABLE heartbeat (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    at  INTEGER NOT NULL
);
