-- footlight embedded store, version 9: backend logs, the service an error came from, and
-- the backends that report.
--
-- OTLP log records were kept only as console messages of the session they named; records
-- of no session (most of a backend's) were stored in their batch and shown nowhere. Each
-- record is now also a row of `logs`, of its session or of the project its exporter names,
-- searchable by project, session, service, level, text and time. Errors keep the service,
-- version and environment that reported them (backend SDKs), to tell them apart when no
-- session is there to do it.
ALTER TABLE errors ADD COLUMN service_name TEXT;
ALTER TABLE errors ADD COLUMN service_version TEXT;
ALTER TABLE errors ADD COLUMN environment TEXT;
-- A trace's errors, for its spans (GET /api/v1/traces/{id}, the network pane's waterfall).
CREATE INDEX errors_by_trace ON errors(trace_id) WHERE trace_id IS NOT NULL;
-- 'backend' for a backend's log line in its session's console; NULL: as the origin says.
ALTER TABLE console_messages ADD COLUMN source TEXT;

CREATE TABLE logs (
    id                  INTEGER PRIMARY KEY,
    project_id          INTEGER,
    session_secure_id   TEXT,
    origin              TEXT NOT NULL,
    timestamp           INTEGER NOT NULL,
    level               TEXT NOT NULL,
    message             TEXT NOT NULL,
    service_name        TEXT,
    service_version     TEXT,
    environment         TEXT,
    trace_id            TEXT,
    span_id             TEXT,
    attributes          TEXT NOT NULL  -- JSON object
);
CREATE INDEX logs_by_project_time ON logs(project_id, timestamp, id);
CREATE INDEX logs_by_session ON logs(session_secure_id, timestamp);
CREATE INDEX logs_by_origin ON logs(origin);

-- The backends that have reported, per project and service: a user wiring a backend SDK
-- sees that it reports (any OTLP export of a backend's resource, or markBackendSetup).
CREATE TABLE backend_services (
    project_id  INTEGER NOT NULL,
    name        TEXT NOT NULL,  -- service.name; '' when the backend named none
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    PRIMARY KEY (project_id, name)
);

-- Log exports stored before this version are derived again, to fill `logs`.
INSERT OR IGNORE INTO processing_queue (kind, key, first_enqueued_at, due_at)
    SELECT 'otlp', id, 0, 0 FROM otlp_batches WHERE signal = 'logs';
