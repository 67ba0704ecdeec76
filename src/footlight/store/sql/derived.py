"""Derived rows as the SQL store keeps them: prepared off the writer (`prepare_rows`), then
swapped in for a job's origin in the transaction that completes the job (`store_derived`).

What processing derives from one input (a session, an OTLP export, a backend error)
replaces everything that input derived before, by `origin`, so a re-run never doubles rows.
An error or span of no session takes the session of a span of the same trace, whichever of
the two is stored first (`_linked_by_trace`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec

from footlight.core.clock import now_ms
from footlight.store.base import (
    Derived,
)
from footlight.store.sql.access import to_json
from footlight.store.sql.engine import Connection

DERIVED_BY_ORIGIN = (
    "console_messages",
    "network_requests",
    "websocket_events",
    "errors",
    "track_events",
    "spans",
    "otlp_metrics",
    "logs",
)


def _without_nul(parameters: Sequence[Any]) -> Sequence[Any]:
    """A row with U+0000 in its text replaced by U+FFFD.

    Derived text is what the SDK sent (a console line, a URL), and it may hold a NUL, which
    PostgreSQL text cannot; refusing it would leave the whole session unprocessed. Replaced on
    both engines, so they store the same thing. (Input a client names things by, like a secure
    id, is refused instead: see the engines' refusals.)
    """
    if not any(isinstance(p, str) and "\x00" in p for p in parameters):
        return parameters
    return [p.replace("\x00", "\ufffd") if isinstance(p, str) else p for p in parameters]


_encode = msgspec.json.Encoder().encode


def _json(value: Any) -> str:
    # msgspec writes a dataclass as the object `asdict` would give, without building it.
    return _encode(value).decode()


_ROW_COLUMNS: dict[str, tuple[str, ...]] = {
    "session_pages": ("session_id", "timestamp", "url"),
    "console_messages": (
        "session_secure_id", "origin", "timestamp", "level", "message", "trace", "attributes",
        "source",
    ),
    "network_requests": (
        "session_secure_id", "origin", "started_at", "ended_at", "method", "url", "status",
        "initiator", "request", "response", "transfer_size", "trace_id", "span_id",
    ),
    "websocket_events": (
        "session_secure_id", "origin", "timestamp", "socket_id", "type", "name", "size",
        "message",
    ),
    "errors": (
        "project_id", "session_secure_id", "origin", "fingerprint", "timestamp", "type",
        "message", "frames", "url", "payload", "source", "trace_id", "service_name",
        "service_version", "environment",
    ),
    "logs": (
        "project_id", "session_secure_id", "origin", "timestamp", "level", "message",
        "service_name", "service_version", "environment", "trace_id", "span_id", "attributes",
    ),
    "track_events": ("session_secure_id", "origin", "timestamp", "name", "properties"),
    "spans": (
        "session_secure_id", "origin", "trace_id", "span_id", "parent_span_id", "name", "kind",
        "started_at", "ended_at", "status_code", "service_name", "attributes", "events",
    ),
    "otlp_metrics": (
        "session_secure_id", "origin", "name", "timestamp", "value", "attributes",
    ),
}  # fmt: skip


@dataclass
class PreparedRows:
    """A `Derived` as the rows to write, built before the write transaction: turning tens of
    thousands of records into parameters takes longer than writing them, and the writer is
    shared by every client's pushes."""

    derived: Derived
    summary: tuple[Any, ...] | None = None
    summary_columns: tuple[str, ...] = ()
    tables: dict[str, list[Sequence[Any]]] = field(default_factory=dict)


def prepare_rows(derived: Derived) -> PreparedRows:
    origin = derived.origin
    prepared = PreparedRows(derived)
    rows: dict[str, list[Sequence[Any]]] = {table: [] for table in _ROW_COLUMNS}
    if derived.session_id is not None and derived.summary is not None:
        sid, summary = derived.session_id, derived.summary
        values = asdict(summary)
        values["details"] = to_json(summary.details)
        prepared.summary_columns = ("session_id", "processed_at", *values)
        prepared.summary = tuple(_without_nul((sid, now_ms(), *values.values())))
        rows["session_pages"] = [(sid, p.timestamp, p.url) for p in derived.pages]
    rows["console_messages"] = [
        (
            sid_,
            origin,
            m.timestamp,
            m.level,
            m.message,
            _json(m.trace),
            _json(m.attributes),
            # Only a backend's is marked: the others' source is their origin's.
            "backend" if m.source == "backend" else None,
        )
        for sid_, m in derived.console
    ]
    rows["network_requests"] = [
        (
            sid_,
            origin,
            n.start,
            n.end,
            n.method,
            n.url,
            n.status,
            n.initiator,
            None if n.request is None else _json(n.request),
            None if n.response is None else _json(n.response),
            n.transfer_size,
            n.trace_id,
            n.span_id,
        )
        for sid_, n in derived.network
    ]
    rows["websocket_events"] = [
        (sid_, origin, w.timestamp, w.socket_id, w.type, w.name, w.size, w.message)
        for sid_, w in derived.websocket
    ]
    rows["errors"] = [
        (
            e.project_id,
            e.session_secure_id,
            origin,
            e.fingerprint,
            e.error.timestamp,
            e.error.type,
            e.error.message,
            _json(e.error.frames),
            e.error.url,
            e.error.payload,
            e.error.source,
            e.trace_id,
            e.error.service_name,
            e.error.service_version,
            e.error.environment,
        )
        for e in derived.errors
    ]
    rows["logs"] = [
        (
            g.project_id,
            g.session_secure_id,
            origin,
            g.entry.timestamp,
            g.entry.level,
            g.entry.message,
            g.entry.service_name,
            g.entry.service_version,
            g.entry.environment,
            g.entry.trace_id,
            g.entry.span_id,
            _json(g.entry.attributes),
        )
        for g in derived.logs
    ]
    rows["track_events"] = [
        (sid_, origin, t.timestamp, t.name, _json(t.properties)) for sid_, t in derived.tracks
    ]
    rows["spans"] = [
        (
            s.session_secure_id,
            origin,
            s.trace_id,
            s.span_id,
            s.parent_span_id,
            s.name,
            s.kind,
            s.started_at,
            s.ended_at,
            s.status_code,
            s.service_name,
            _json(s.attributes),
            _json(s.events),
        )
        for s in derived.spans
    ]
    rows["otlp_metrics"] = [
        (m.session_secure_id, origin, m.name, m.timestamp, m.value, _json(m.attributes))
        for m in derived.metrics
    ]
    prepared.tables = {
        table: [_without_nul(row) for row in table_rows] for table, table_rows in rows.items()
    }
    return prepared


def _fill_projects(conn: Connection, errors: list[Sequence[Any]]) -> list[Sequence[Any]]:
    """Errors (or logs) whose project is their session's (OTLP exports name none) get it
    looked up; both tables start (project_id, session_secure_id, ...)."""
    unknown = sorted({row[1] for row in errors if row[0] is None and row[1] is not None})
    projects: dict[str, int] = {}
    for start in range(0, len(unknown), 500):
        chunk = unknown[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        for r in conn.execute(
            f"SELECT secure_id, project_id FROM sessions WHERE secure_id IN ({marks})", chunk
        ):
            projects[r[0]] = r[1]
    return [
        (projects.get(row[1]), *row[1:]) if row[0] is None and row[1] is not None else row
        for row in errors
    ]


_ERROR_SESSION = _ROW_COLUMNS["errors"].index("session_secure_id")
_ERROR_TRACE = _ROW_COLUMNS["errors"].index("trace_id")
_SPAN_SESSION = _ROW_COLUMNS["spans"].index("session_secure_id")
_SPAN_TRACE = _ROW_COLUMNS["spans"].index("trace_id")


def _chunks(items: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _linked_by_trace(
    conn: Connection, tables: dict[str, list[Sequence[Any]]]
) -> dict[str, list[Sequence[Any]]]:
    """Link errors and spans of no session to the session of a browser span of their trace.

    Both ways, so that the order in which the exports arrive does not matter: rows of no
    session being written take the session of a stored (or same-export) span of their
    trace; and the spans with a session being written give it to stored errors and spans of
    no session of their traces.
    """
    errors = tables.get("errors", [])
    spans = tables.get("spans", [])
    session_of: dict[str, str] = {
        row[_SPAN_TRACE]: row[_SPAN_SESSION] for row in spans if row[_SPAN_SESSION] is not None
    }
    # Stored rows of no session, on the traces this export's session spans name.
    by_session: dict[str, list[str]] = {}
    for trace, session in session_of.items():
        by_session.setdefault(session, []).append(trace)
    for session, traces in by_session.items():
        for chunk in _chunks(sorted(traces)):
            marks = ", ".join("?" * len(chunk))
            conn.execute(
                "UPDATE errors SET session_secure_id = ?, project_id = coalesce(project_id,"
                " (SELECT project_id FROM sessions WHERE secure_id = ?))"
                f" WHERE session_secure_id IS NULL AND trace_id IN ({marks})",
                (session, session, *chunk),
            )
            conn.execute(
                "UPDATE spans SET session_secure_id = ?"
                f" WHERE session_secure_id IS NULL AND trace_id IN ({marks})",
                (session, *chunk),
            )
    # This export's rows of no session, on traces a stored span gives a session.
    unlinked = sorted(
        {row[_ERROR_TRACE] for row in errors if row[_ERROR_SESSION] is None and row[_ERROR_TRACE]}
        | {row[_SPAN_TRACE] for row in spans if row[_SPAN_SESSION] is None}
    )
    unlinked = [trace for trace in unlinked if trace not in session_of]
    for chunk in _chunks(unlinked):
        marks = ", ".join("?" * len(chunk))
        for row in conn.execute(
            "SELECT trace_id, session_secure_id FROM spans"
            f" WHERE trace_id IN ({marks}) AND session_secure_id IS NOT NULL",
            chunk,
        ):
            session_of.setdefault(row[0], row[1])
    if not session_of:
        return tables

    def link(rows: list[Sequence[Any]], session_at: int, trace_at: int) -> list[Sequence[Any]]:
        linked = []
        for row in rows:
            session = session_of.get(row[trace_at]) if row[session_at] is None else None
            if session is not None:
                row = (*row[:session_at], session, *row[session_at + 1 :])
            linked.append(row)
        return linked

    return {
        **tables,
        "errors": link(errors, _ERROR_SESSION, _ERROR_TRACE),
        "spans": link(spans, _SPAN_SESSION, _SPAN_TRACE),
    }


def store_derived(conn: Connection, prepared: PreparedRows, *, append: bool = False) -> None:
    """Swap in what one input derived (its origin's old rows go), or with `append` add rows
    to its origin's (a live session's next payloads); a summary always replaces the old."""
    derived = prepared.derived
    if not append:
        delete_origin(conn, derived.origin)
    if prepared.summary is not None:
        sid = derived.session_id
        conn.execute("DELETE FROM session_summaries WHERE session_id = ?", (sid,))
        conn.execute("DELETE FROM session_pages WHERE session_id = ?", (sid,))
        columns = ", ".join(prepared.summary_columns)
        marks = ", ".join("?" * len(prepared.summary_columns))
        conn.execute(
            f"INSERT INTO session_summaries ({columns}) VALUES ({marks})", prepared.summary
        )
    tables = _linked_by_trace(conn, prepared.tables)
    for table, rows in tables.items():
        if not rows:
            continue
        if table in ("errors", "logs"):
            rows = _fill_projects(conn, rows)
        conn.insert_rows(table, _ROW_COLUMNS[table], rows)
    _note_services(conn, derived)
    if derived.backfill is not None:
        b = derived.backfill
        conn.execute(
            "UPDATE sessions SET identifier = ?, user_object = ?, email = ?"
            " WHERE project_id = ? AND client_id = ? AND identifier IS NULL",
            _without_nul((b.identifier, b.user_object, b.email, b.project_id, b.client_id)),
        )


def delete_origin(conn: Connection, origin: str) -> None:
    for table in DERIVED_BY_ORIGIN:
        conn.execute(f"DELETE FROM {table} WHERE origin = ?", (origin,))


def _note_services(conn: Connection, derived: Derived) -> None:
    sessions = sorted({s.session_secure_id for s in derived.services if s.session_secure_id})
    projects: dict[str, int] = {}
    for chunk in _chunks(sessions):
        marks = ", ".join("?" * len(chunk))
        for r in conn.execute(
            f"SELECT secure_id, project_id FROM sessions WHERE secure_id IN ({marks})", chunk
        ):
            projects[r[0]] = r[1]
    for seen in derived.services:
        project = seen.project_id or projects.get(seen.session_secure_id or "")
        if project is not None:
            # A stranger's service name, kept as the other derived text is (NUL replaced).
            (name,) = _without_nul((seen.name,))
            note_backend_service(conn, project, name, seen.at, derived.max_services)


def note_backend_service(conn: Connection, project_id: int, name: str, at: int, limit: int) -> None:
    """Record that `name` reported to the project at `at`; a service the project does not list
    yet is added only while it lists fewer than `limit`."""
    updated = conn.execute(
        "UPDATE backend_services SET last_seen = ? WHERE project_id = ? AND name = ?"
        " AND last_seen < ?",
        (at, project_id, name, at),
    )
    if updated.rowcount:
        return
    conn.execute(
        "INSERT INTO backend_services (project_id, name, first_seen, last_seen)"
        " SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM backend_services"
        " WHERE project_id = ? AND name = ?)"
        " AND (SELECT count(*) FROM backend_services WHERE project_id = ?) < ?"
        # Another process may add it between the check and the insert.
        " ON CONFLICT (project_id, name) DO NOTHING",
        (project_id, name, at, at, project_id, name, project_id, limit),
    )
