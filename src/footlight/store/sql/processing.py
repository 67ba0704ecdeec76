"""The processing side of the SQL store: the work queue, processing's inputs, derived rows.

A job is claimed with a lease, its input read, its rows derived off the store, and then
stored in one transaction that also completes the job. A crash anywhere before that commit
leaves the old rows and the job in place; the lease expires and another run redoes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec

from footlight.core.clock import now_ms
from footlight.errors import LeaseLost
from footlight.store.base import (
    BackendErrorInput,
    Derived,
    Job,
    JobKind,
    OtlpBatch,
    QueuedJob,
    Session,
    SessionInput,
    StoredPayload,
)
from footlight.store.sql.access import Access, to_json
from footlight.store.sql.engine import Connection
from footlight.store.sql.rows import backend_error, payload_page

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
_SESSION_COLUMNS = (
    "id, secure_id, project_id, created_at, client_id, environment, app_version, service_name,"
    " client_version, client_config, user_agent, accept_language, identifier, user_object"
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


def _store_derived(conn: Connection, prepared: PreparedRows) -> None:
    derived = prepared.derived
    for table in DERIVED_BY_ORIGIN:
        conn.execute(f"DELETE FROM {table} WHERE origin = ?", (derived.origin,))
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


_MAX_RETRY_DELAY_MS = 3_600_000


def crash_retry_delay(lease_ms: int, attempts: int) -> int:
    """How long after claiming it a job whose run never ended may be claimed again: the lease,
    doubled for every earlier attempt, at most an hour (and never less than the lease)."""
    doubled = lease_ms << min(max(attempts - 1, 0), 20)
    return max(lease_ms, min(_MAX_RETRY_DELAY_MS, doubled))


class ProcessingQueries(Access):
    async def claim_jobs(self, owner: str, now: int, lease_ms: int, limit: int) -> list[Job]:
        """Lease up to `limit` due jobs that nobody holds (or whose holder's lease ran out).

        Claiming counts an attempt and pushes the job's due time back (see `crash_retry_delay`):
        if this run kills the process, the next one waits longer each time, and the worker
        quarantines the job once its attempts are used up. A run that ends, well or badly,
        resets both (`complete_job`, `fail_job`).
        """

        def claim(conn: Connection) -> list[Job]:
            rows = conn.execute(
                "UPDATE processing_queue SET lease_owner = ?, lease_until = ?,"
                " attempts = attempts + 1"
                " WHERE (kind, key) IN (SELECT kind, key FROM processing_queue WHERE due_at <= ?"
                " AND (lease_until IS NULL OR lease_until < ?) AND quarantined_at IS NULL"
                f" ORDER BY due_at LIMIT ? {conn.skip_locked})"
                " RETURNING kind, key, version, attempts",
                (owner, now + lease_ms, now, now, limit),
            ).fetchall()
            jobs = [Job(r["kind"], r["key"], r["version"], r["attempts"]) for r in rows]
            for job in jobs:
                conn.execute(
                    "UPDATE processing_queue SET due_at = ? WHERE kind = ? AND key = ?",
                    (now + crash_retry_delay(lease_ms, job.attempts), job.kind, job.key),
                )
            return jobs

        return await self._write(claim)

    async def renew_lease(self, job: Job, owner: str, until: int) -> bool:
        def renew(conn: Connection) -> bool:
            row = conn.execute(
                "UPDATE processing_queue SET lease_until = ?"
                " WHERE kind = ? AND key = ? AND lease_owner = ? RETURNING key",
                (until, job.kind, job.key, owner),
            ).fetchone()
            return row is not None

        return await self._write(renew)

    async def release_job(self, job: Job, owner: str, now: int) -> None:
        def release(conn: Connection) -> None:
            conn.execute(
                "UPDATE processing_queue SET lease_owner = NULL, lease_until = NULL,"
                " attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, due_at = ?"
                " WHERE kind = ? AND key = ? AND lease_owner = ?",
                (now, job.kind, job.key, owner),
            )

        await self._write(release)

    async def complete_job(self, job: Job, owner: str, derived: Derived) -> bool:
        """Store a job's results and finish it; False if new input arrived meanwhile.

        In that case the results still replace the old ones (they are newer) and the job
        stays queued, already due again, for the input that arrived during the run.
        """
        prepared = await asyncio.to_thread(prepare_rows, derived)

        def complete(conn: Connection) -> bool:
            # An UPDATE, not a SELECT: it locks the row until this commits (on PostgreSQL), so
            # new input scheduled meanwhile either shows in `version` here or waits for the
            # DELETE below and queues the job anew; it cannot be deleted unseen.
            row = conn.execute(
                "UPDATE processing_queue SET lease_until = lease_until"
                " WHERE kind = ? AND key = ? AND lease_owner = ? RETURNING version",
                (job.kind, job.key, owner),
            ).fetchone()
            if row is None:
                raise LeaseLost(job.origin)
            _store_derived(conn, prepared)
            if row["version"] == job.version:
                conn.execute(
                    "DELETE FROM processing_queue WHERE kind = ? AND key = ?", (job.kind, job.key)
                )
                return True
            conn.execute(
                "UPDATE processing_queue SET lease_owner = NULL, lease_until = NULL,"
                " attempts = 0, last_error = NULL WHERE kind = ? AND key = ?",
                (job.kind, job.key),
            )
            return False

        return await self._write(complete)

    async def drop_job(self, job: Job, owner: str) -> None:
        """Finish a job whose input no longer exists (deleted meanwhile)."""

        def drop(conn: Connection) -> None:
            conn.execute(
                "DELETE FROM processing_queue WHERE kind = ? AND key = ? AND lease_owner = ?",
                (job.kind, job.key, owner),
            )

        await self._write(drop)

    async def fail_job(
        self, job: Job, owner: str, error: str, retry_at: int, *, quarantine: bool = False
    ) -> None:
        def fail(conn: Connection) -> None:
            conn.execute(
                "UPDATE processing_queue SET lease_owner = NULL, lease_until = NULL,"
                " last_error = ?, due_at = ?, quarantined_at = ?"
                " WHERE kind = ? AND key = ? AND lease_owner = ?",
                (
                    error[:2000],
                    retry_at,
                    now_ms() if quarantine else None,
                    job.kind,
                    job.key,
                    owner,
                ),
            )

        await self._write(fail)

    async def queued_jobs(self) -> int:
        def count(conn: Connection) -> int:
            row = conn.execute(
                "SELECT count(*) FROM processing_queue WHERE quarantined_at IS NULL"
            ).fetchone()
            return int(row[0])

        return await self._read(count)

    async def quarantined_jobs(self) -> list[QueuedJob]:
        def read(conn: Connection) -> list[QueuedJob]:
            return [
                QueuedJob(
                    r["kind"],
                    r["key"],
                    r["attempts"],
                    r["due_at"],
                    r["last_error"],
                    r["quarantined_at"],
                )
                for r in conn.execute(
                    "SELECT kind, key, attempts, due_at, last_error, quarantined_at"
                    " FROM processing_queue WHERE quarantined_at IS NOT NULL"
                    " ORDER BY quarantined_at, kind, key"
                )
            ]

        return await self._read(read)

    async def retry_quarantined(
        self, now: int, kind: JobKind | None = None, key: int | None = None
    ) -> int:
        def retry(conn: Connection) -> int:
            sql = (
                "UPDATE processing_queue SET quarantined_at = NULL, attempts = 0, due_at = ?,"
                " lease_owner = NULL, lease_until = NULL WHERE quarantined_at IS NOT NULL"
            )
            args: list[Any] = [now]
            if kind is not None and key is not None:
                sql += " AND kind = ? AND key = ?"
                args += [kind, key]
            return len(conn.execute(sql + " RETURNING key", args).fetchall())

        return await self._write(retry)

    async def session_input(self, session_id: int) -> SessionInput | None:
        def read(conn: Connection) -> SessionInput | None:
            row = conn.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ?",
                (session_id,),
            ).fetchone()
            if row is None:
                return None
            session = Session(**dict(zip(row.keys(), row, strict=True)))
            email = conn.execute(
                "SELECT value FROM session_fields WHERE session_id = ? AND kind = 'user'"
                " AND key = 'email' ORDER BY received_at LIMIT 1",
                (session_id,),
            ).fetchone()
            return SessionInput(
                session=session,
                client_id=session.client_id,
                email=None if email is None else email[0],
            )

        return await self._read(read)

    async def session_payloads(
        self, session_id: int, after: tuple[int, int] | None, max_bytes: int
    ) -> list[StoredPayload]:
        def read(conn: Connection) -> list[StoredPayload]:
            return payload_page(conn, session_id, after, max_bytes)

        return await self._read(read)

    async def otlp_input(self, batch_id: int) -> OtlpBatch | None:
        def read(conn: Connection) -> OtlpBatch | None:
            r = conn.execute("SELECT * FROM otlp_batches WHERE id = ?", (batch_id,)).fetchone()
            if r is None:
                return None
            return OtlpBatch(
                r["signal"],
                r["content_type"],
                r["content_encoding"],
                r["received_at"],
                bytes(r["body"]),
            )

        return await self._read(read)

    async def backend_error_input(self, error_id: int) -> BackendErrorInput | None:
        def read(conn: Connection) -> BackendErrorInput | None:
            r = conn.execute("SELECT * FROM backend_errors WHERE id = ?", (error_id,)).fetchone()
            if r is None:
                return None
            return BackendErrorInput(
                int(r["id"]), int(r["project_id"]), backend_error(r), int(r["received_at"])
            )

        return await self._read(read)
