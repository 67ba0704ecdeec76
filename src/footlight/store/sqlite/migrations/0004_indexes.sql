-- footlight embedded store, version 4: indexes for lookups that scanned a whole table.

-- Deleting a session (by hand or by retention) finds its backend errors, and the foreign key
-- from backend_errors is checked when the session row goes.
CREATE INDEX backend_errors_by_session ON backend_errors(session_id);

-- Retention finds the OTLP batches older than a cutoff.
CREATE INDEX otlp_batches_by_received ON otlp_batches(received_at);

-- The error list of some projects, newest (highest id) first.
CREATE INDEX errors_by_project_id ON errors(project_id, id);
