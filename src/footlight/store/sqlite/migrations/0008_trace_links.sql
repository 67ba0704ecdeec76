-- footlight embedded store, version 8: backend errors find their browser session by trace id.
--
-- Backend SDKs that do not read the browser's X-Highlight-Request header (LaunchDarkly's
-- Python, Go and .NET) still continue the trace of the browser's fetch span, whose spans
-- name the session. An error now keeps the trace id of the span that recorded it, so that
-- processing can give an error of no session the session of a browser span of the same
-- trace, whichever of the two exports arrives first.
ALTER TABLE errors ADD COLUMN trace_id TEXT;
CREATE INDEX errors_without_session_by_trace ON errors(trace_id)
    WHERE session_secure_id IS NULL AND trace_id IS NOT NULL;
CREATE INDEX spans_by_trace ON spans(trace_id);
