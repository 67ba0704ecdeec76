"""The reading side of the SQL store (sessions, timelines, errors), plus deletion, retention,
API tokens and the UI's signed-in sessions.

What the read API and the UI read runs on the engine's operator lane (`_operator_read`):
never in the way of ingest, each statement stopped after `read_timeout_seconds`. Every read
there is bounded in rows too: a session's timelines are read a page at a time, in (time, id)
order from the index on (session, time), and a session view holds at most
`MAX_VIEW_FIELDS` of its properties.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from footlight.core.records import (
    ConsoleMessage,
    ErrorOccurrence,
    LogEntry,
    NetworkRequest,
    StackFrame,
    TrackEvent,
    WebSocketEvent,
)
from footlight.errors import UnknownProject
from footlight.store.base import (
    MAX_VIEW_FIELDS,
    ApiToken,
    BackendService,
    ErrorGroupView,
    ErrorView,
    Feedback,
    LogQuery,
    LogView,
    NetworkWindow,
    Page,
    PurgeResult,
    SessionField,
    SessionQuery,
    SessionSummary,
    SessionView,
    SpanRecord,
    SpanView,
    TimelineKey,
    TokenScope,
)
from footlight.store.sql.access import Access, from_json
from footlight.store.sql.engine import Connection
from footlight.store.sql.processing import DERIVED_BY_ORIGIN
from footlight.store.sql.rows import feedback

T = TypeVar("T")
DAY_MS = 86_400_000

_SUMMARY_COLUMNS = (
    "started_at", "ended_at", "length_ms", "active_ms", "pages_visited", "click_count",
    "rage_click_count", "event_count", "payload_count", "error_count", "console_count",
    "network_count", "browser_name", "browser_version", "os_name", "os_version", "device_type",
    "language", "landing_page", "exit_page",
)  # fmt: skip
_SESSION_SELECT = (
    "SELECT s.id, s.secure_id, s.project_id, s.created_at, s.client_id, s.identifier, s.email,"
    " s.user_object, s.environment, s.app_version, s.service_name, s.client_version,"
    " s.user_agent, ss.processed_at, ss.details, "
    + ", ".join(f"ss.{c}" for c in _SUMMARY_COLUMNS)
    + ", EXISTS (SELECT 1 FROM processing_queue q WHERE q.kind = 'session' AND q.key = s.id"
    " AND q.quarantined_at IS NULL)"
    " AS processing FROM sessions s LEFT JOIN session_summaries ss ON ss.session_id = s.id"
)


def _like(text: str) -> str:
    """A LIKE pattern for `text` anywhere; SQL folds it with lower(?), as it folds the column.

    Folding in Python instead would fold more than SQLite's lower() (ASCII only) does to the
    column, and "Émile" would not find itself there. The engines still differ: PostgreSQL
    folds non-ASCII letters too, SQLite only ASCII ones.
    """
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _session_view(row: Any, fields: Sequence[SessionField] = ()) -> SessionView:
    summary = None
    if row["processed_at"] is not None:
        summary = SessionSummary(
            **{c: row[c] for c in _SUMMARY_COLUMNS}, details=from_json(row["details"]) or {}
        )
    return SessionView(
        id=row["id"],
        secure_id=row["secure_id"],
        project_id=row["project_id"],
        created_at=row["created_at"],
        client_id=row["client_id"],
        identifier=row["identifier"],
        email=row["email"],
        user_object=row["user_object"],
        environment=row["environment"],
        app_version=row["app_version"],
        service_name=row["service_name"],
        client_version=row["client_version"],
        user_agent=row["user_agent"],
        processed_at=row["processed_at"],
        processing=bool(row["processing"]),
        summary=summary,
        fields=tuple(fields),
    )


_TOKEN_COLUMNS = "t.id, t.name, t.project_id, t.created_at, t.scope"  # noqa: S105 - columns


def _token(row: Any) -> ApiToken:
    return ApiToken(row["id"], row["name"], row["project_id"], row["created_at"], row["scope"])


def _frames(text: str) -> tuple[StackFrame, ...]:
    return tuple(StackFrame(**f) for f in from_json(text) or [])


def _occurrence(row: Any) -> ErrorOccurrence:
    return ErrorOccurrence(
        timestamp=row["timestamp"],
        type=row["type"],
        message=row["message"],
        frames=_frames(row["frames"]),
        url=row["url"],
        payload=row["payload"],
        source=row["source"],
        service_name=row["service_name"],
        service_version=row["service_version"],
        environment=row["environment"],
    )


def _error_view(row: Any) -> ErrorView:
    return ErrorView(
        id=row["id"],
        project_id=row["project_id"],
        session_secure_id=row["session_secure_id"],
        fingerprint=row["fingerprint"],
        error=_occurrence(row),
        trace_id=row["trace_id"],
    )


def _span_view(r: Any) -> SpanView:
    return SpanView(
        id=r["id"],
        project_id=r["project_id"],
        span=SpanRecord(
            session_secure_id=r["session_secure_id"],
            trace_id=r["trace_id"],
            span_id=r["span_id"],
            parent_span_id=r["parent_span_id"],
            name=r["name"],
            kind=r["kind"],
            started_at=r["started_at"],
            ended_at=r["ended_at"],
            status_code=r["status_code"],
            service_name=r["service_name"],
            attributes=from_json(r["attributes"]) or {},
            events=from_json(r["events"]) or [],
        ),
    )


def _log_view(r: Any) -> LogView:
    return LogView(
        id=r["id"],
        project_id=r["project_id"],
        session_secure_id=r["session_secure_id"],
        entry=LogEntry(
            timestamp=r["timestamp"],
            level=r["level"],
            message=r["message"],
            service_name=r["service_name"],
            service_version=r["service_version"],
            environment=r["environment"],
            trace_id=r["trace_id"],
            span_id=r["span_id"],
            attributes=from_json(r["attributes"]) or {},
        ),
    )


def _console(r: Any) -> ConsoleMessage:
    return ConsoleMessage(
        timestamp=r["timestamp"],
        level=r["level"],
        message=r["message"],
        trace=_frames(r["trace"]),
        attributes=from_json(r["attributes"]) or {},
        source=r["source"] or ("otlp" if r["origin"].startswith("otlp:") else "payload"),
    )


def _network(r: Any) -> NetworkRequest:
    return NetworkRequest(
        start=r["started_at"],
        end=r["ended_at"],
        method=r["method"],
        url=r["url"],
        status=r["status"],
        initiator=r["initiator"],
        request=from_json(r["request"]),
        response=from_json(r["response"]),
        transfer_size=r["transfer_size"],
        trace_id=r["trace_id"],
        span_id=r["span_id"],
        source="otlp" if r["origin"].startswith("otlp:") else "payload",
    )


def _websocket(r: Any) -> WebSocketEvent:
    return WebSocketEvent(
        r["timestamp"], r["socket_id"], r["type"], r["name"], r["size"], r["message"]
    )


def _track(r: Any) -> TrackEvent:
    return TrackEvent(r["timestamp"], r["name"], from_json(r["properties"]) or {})


class _Timeline:
    """A session's rows in one table, read in (time, id) order, a page at a time.

    `select` picks the rows of one session (its one parameter, the secure id); `time` and
    `id` name the columns of the order. The keyset condition repeats `time >= ?` so that
    both engines bound the scan of the (session, time) index with it.
    """

    def __init__(self, select: str, time: str, id_: str = "id") -> None:
        self.select = select
        self.time = time
        self.id = id_

    def after(self, key: TimelineKey | None) -> tuple[str, list[Any]]:
        if key is None:
            return "", []
        t, i = self.time, self.id
        return f" AND {t} >= ? AND ({t} > ? OR {i} > ?)", [key[0], key[0], key[1]]

    def rows(
        self, conn: Connection, secure_id: str, after: TimelineKey | None, limit: int | None
    ) -> list[Any]:
        condition, args = self.after(after)
        sql = f"{self.select}{condition} ORDER BY {self.time}, {self.id}"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return conn.execute(sql, [secure_id, *args]).fetchall()

    def key(self, row: Any) -> TimelineKey:
        return (row[self.time.rsplit(".", 1)[-1]], row[self.id.rsplit(".", 1)[-1]])

    def page(
        self,
        conn: Connection,
        secure_id: str,
        after: TimelineKey | None,
        limit: int | None,
        build: Callable[[Any], T],
    ) -> Page[T]:
        """Up to `limit` rows after `after` (all of them for None); one more is read to know
        whether another page follows."""
        rows = self.rows(conn, secure_id, after, None if limit is None else limit + 1)
        more = limit is not None and len(rows) > limit
        rows = rows[:limit] if more else rows
        return Page([build(r) for r in rows], self.key(rows[-1]) if more else None)


_CONSOLE = _Timeline("SELECT * FROM console_messages WHERE session_secure_id = ?", "timestamp")
_NETWORK = _Timeline("SELECT * FROM network_requests WHERE session_secure_id = ?", "started_at")
_WEBSOCKET = _Timeline("SELECT * FROM websocket_events WHERE session_secure_id = ?", "timestamp")
_TRACK = _Timeline("SELECT * FROM track_events WHERE session_secure_id = ?", "timestamp")
_ERRORS = _Timeline("SELECT * FROM errors WHERE session_secure_id = ?", "timestamp")
_FEEDBACK = _Timeline(
    "SELECT f.* FROM feedback f JOIN sessions s ON s.id = f.session_id WHERE s.secure_id = ?",
    "f.timestamp",
    "f.id",
)


def _view_fields(conn: Connection, session_id: int) -> tuple[list[SessionField], bool]:
    """The first `MAX_VIEW_FIELDS` fields of a session in arrival order; whether that is all."""
    rows = conn.execute(
        "SELECT kind, key, value FROM session_fields WHERE session_id = ?"
        " ORDER BY received_at, kind, key, value LIMIT ?",
        (session_id, MAX_VIEW_FIELDS + 1),
    ).fetchall()
    fields = [SessionField(f["kind"], f["key"], f["value"]) for f in rows[:MAX_VIEW_FIELDS]]
    return fields, len(rows) <= MAX_VIEW_FIELDS


def _payload_page(
    conn: Connection, secure_id: str, after: tuple[int, int] | None, page: int
) -> list[Any]:
    sql = (
        "SELECT p.payload_id, p.seq, p.body FROM payloads p"
        " JOIN sessions s ON s.id = p.session_id WHERE s.secure_id = ?"
    )
    args: list[Any] = [secure_id]
    if after is not None:
        sql += " AND (p.payload_id > ? OR (p.payload_id = ? AND p.seq > ?))"
        args += [after[0], after[0], after[1]]
    sql += " ORDER BY p.payload_id, p.seq LIMIT ?"
    return conn.execute(sql, [*args, page]).fetchall()


def _in_projects(column: str, project_ids: Sequence[int] | None) -> tuple[str, list[Any]]:
    if project_ids is None:
        return "TRUE", []
    return f"{column} IN ({', '.join('?' * len(project_ids))})", list(project_ids)


def delete_session_rows(conn: Connection, session_id: int, secure_id: str) -> None:
    """Remove a session, its input and everything derived from it, in one transaction."""
    for table in DERIVED_BY_ORIGIN:
        conn.execute(
            f"DELETE FROM {table} WHERE origin = ? OR session_secure_id = ?",
            (f"session:{session_id}", secure_id),
        )
    backend = [
        r[0]
        for r in conn.execute("SELECT id FROM backend_errors WHERE session_id = ?", (session_id,))
    ]
    for error_id in backend:
        conn.execute("DELETE FROM errors WHERE origin = ?", (f"backend:{error_id}",))
        conn.execute("DELETE FROM processing_queue WHERE kind = 'backend' AND key = ?", (error_id,))
    for table in ("payloads", "session_fields", "feedback", "metrics", "backend_errors"):
        conn.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
    conn.execute("DELETE FROM processing_queue WHERE kind = 'session' AND key = ?", (session_id,))
    conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))


class ReadQueries(Access):
    # -- sessions ---------------------------------------------------------------------------

    async def list_sessions(self, query: SessionQuery) -> list[SessionView]:
        where, args = [], []
        clause, ids = _in_projects("s.project_id", query.project_ids)
        where.append(clause)
        args.extend(ids)
        if query.started_after is not None:
            where.append("s.created_at >= ?")
            args.append(query.started_after)
        if query.started_before is not None:
            where.append("s.created_at < ?")
            args.append(query.started_before)
        if query.user:
            where.append(
                "(lower(s.identifier) LIKE lower(?) ESCAPE '\\'"
                " OR lower(s.email) LIKE lower(?) ESCAPE '\\')"
            )
            args.extend([_like(query.user)] * 2)
        if query.has_errors is not None:
            exists = "EXISTS (SELECT 1 FROM errors e WHERE e.session_secure_id = s.secure_id)"
            where.append(exists if query.has_errors else f"NOT {exists}")
        if query.url_contains:
            # LIMIT/OFFSET keeps PostgreSQL from flattening this into a semi-join that hashes
            # every visited page first (it guesses far too few matches for LIKE '%...%'):
            # probing sessions newest first stops once a page of them matched (0.5 ms instead
            # of 130 ms on 100k sessions, bench/ui.py). SQLite probes this way anyway.
            where.append(
                "EXISTS (SELECT 1 FROM session_pages p WHERE p.session_id = s.id"
                " AND lower(p.url) LIKE lower(?) ESCAPE '\\' LIMIT 1 OFFSET 0)"
            )
            args.append(_like(query.url_contains))
        if query.environment is not None:
            where.append("s.environment = ?")
            args.append(query.environment)
        if query.min_active_ms is not None:
            where.append("ss.active_ms >= ?")
            args.append(query.min_active_ms)
        if query.after is not None:
            where.append("(s.created_at < ? OR (s.created_at = ? AND s.id < ?))")
            args.extend([query.after[0], query.after[0], query.after[1]])
        sql = (
            f"{_SESSION_SELECT} WHERE {' AND '.join(where)}"
            " ORDER BY s.created_at DESC, s.id DESC LIMIT ?"
        )
        args.append(query.limit)

        def read(conn: Connection) -> list[SessionView]:
            return [_session_view(r) for r in conn.execute(sql, args)]

        return await self._operator_read(read)

    async def session_view(self, secure_id: str, *, fields: bool = True) -> SessionView | None:
        """One session with its summary and (unless `fields` is False, for a cheaper look-up)
        its first `MAX_VIEW_FIELDS` properties."""

        def read(conn: Connection) -> SessionView | None:
            row = conn.execute(f"{_SESSION_SELECT} WHERE s.secure_id = ?", (secure_id,)).fetchone()
            if row is None:
                return None
            if not fields:
                return _session_view(row)
            found, complete = _view_fields(conn, row["id"])
            view = _session_view(row, found)
            return view if complete else replace(view, fields_complete=False)

        return await self._operator_read(read)

    async def fields_page(
        self, secure_id: str, after: tuple[str, str, str] | None, limit: int
    ) -> tuple[list[SessionField], bool]:
        """A session's fields in (kind, key, value) order (its primary key's), `limit` at a
        time after `after`; whether more follow."""
        sql = (
            "SELECT f.kind, f.key, f.value FROM session_fields f"
            " JOIN sessions s ON s.id = f.session_id WHERE s.secure_id = ?"
        )
        args: list[Any] = [secure_id]
        if after is not None:
            sql += " AND (f.kind, f.key, f.value) > (?, ?, ?)"
            args.extend(after)
        sql += " ORDER BY f.kind, f.key, f.value LIMIT ?"

        def read(conn: Connection) -> tuple[list[SessionField], bool]:
            rows = conn.execute(sql, [*args, limit + 1]).fetchall()
            found = [SessionField(r["kind"], r["key"], r["value"]) for r in rows[:limit]]
            return found, len(rows) > limit

        return await self._operator_read(read)

    async def payload_bodies(self, secure_id: str, page: int = 16) -> AsyncIterator[bytes]:
        """A session's payloads (gzip JSON) in replay order, a few at a time."""
        cursor: tuple[int, int] | None = None
        while True:

            def read(conn: Connection, after: tuple[int, int] | None = cursor) -> list[Any]:
                return _payload_page(conn, secure_id, after, page)

            rows = await self._operator_read(read)
            for row in rows:
                yield bytes(row["body"])
            if len(rows) < page:
                return
            cursor = (rows[-1]["payload_id"], rows[-1]["seq"])

    async def payload_totals(self, secure_id: str) -> tuple[int, int]:
        """How many payloads a session has, and their stored (compressed) size in bytes."""

        def read(conn: Connection) -> tuple[int, int]:
            row = conn.execute(
                "SELECT count(*), coalesce(sum(length(p.body)), 0) FROM payloads p"
                " JOIN sessions s ON s.id = p.session_id WHERE s.secure_id = ?",
                (secure_id,),
            ).fetchone()
            return int(row[0]), int(row[1])

        return await self._operator_read(read)

    async def console_page(
        self, secure_id: str, after: TimelineKey | None = None, limit: int | None = None
    ) -> Page[ConsoleMessage]:
        """Console messages in time order, `limit` after `after` (None: all, for tools)."""
        return await self._operator_read(
            lambda conn: _CONSOLE.page(conn, secure_id, after, limit, _console)
        )

    async def network_window(
        self,
        secure_id: str,
        after: TimelineKey | None,
        limit: int,
        margin_ms: float,
        context_rows: int,
    ) -> NetworkWindow:
        """A page of network rows (resources and spans, unmerged) and, for the merge, up to
        `context_rows` rows on each side that start within `margin_ms` of the page."""

        def read(conn: Connection) -> NetworkWindow:
            rows = _NETWORK.rows(conn, secure_id, after, limit + 1)
            more = len(rows) > limit
            page = [(_NETWORK.key(r), _network(r)) for r in rows[:limit]]
            if not page:
                return NetworkWindow([], [], [], False)
            (first_start, first_id), (last_start, last_id) = page[0][0], page[-1][0]
            before = conn.execute(
                f"{_NETWORK.select} AND started_at >= ? AND started_at <= ?"
                " AND (started_at < ? OR id < ?) ORDER BY started_at DESC, id DESC LIMIT ?",
                (
                    secure_id,
                    first_start - margin_ms,
                    first_start,
                    first_start,
                    first_id,
                    context_rows,
                ),
            ).fetchall()
            following = conn.execute(
                f"{_NETWORK.select} AND started_at <= ?{_NETWORK.after((last_start, last_id))[0]}"
                " ORDER BY started_at, id LIMIT ?",
                (secure_id, last_start + margin_ms, last_start, last_start, last_id, context_rows),
            ).fetchall()
            return NetworkWindow(
                before=[(_NETWORK.key(r), _network(r)) for r in reversed(before)],
                page=page,
                after=[(_NETWORK.key(r), _network(r)) for r in following],
                more=more,
            )

        return await self._operator_read(read)

    async def websocket_page(
        self, secure_id: str, after: TimelineKey | None = None, limit: int | None = None
    ) -> Page[WebSocketEvent]:
        return await self._operator_read(
            lambda conn: _WEBSOCKET.page(conn, secure_id, after, limit, _websocket)
        )

    async def track_page(
        self, secure_id: str, after: TimelineKey | None = None, limit: int | None = None
    ) -> Page[TrackEvent]:
        return await self._operator_read(
            lambda conn: _TRACK.page(conn, secure_id, after, limit, _track)
        )

    async def feedback_page(
        self, secure_id: str, after: TimelineKey | None = None, limit: int | None = None
    ) -> Page[Feedback]:
        return await self._operator_read(
            lambda conn: _FEEDBACK.page(conn, secure_id, after, limit, feedback)
        )

    async def session_errors_page(
        self, secure_id: str, after: TimelineKey | None = None, limit: int | None = None
    ) -> Page[ErrorView]:
        return await self._operator_read(
            lambda conn: _ERRORS.page(conn, secure_id, after, limit, _error_view)
        )

    # Whole timelines, for tests and tools (no role protocol has them); the read API and the
    # UI read pages.

    async def session_console(self, secure_id: str) -> list[ConsoleMessage]:
        return (await self.console_page(secure_id)).items

    async def session_network(self, secure_id: str) -> list[NetworkRequest]:
        page = await self._operator_read(
            lambda conn: _NETWORK.page(conn, secure_id, None, None, _network)
        )
        return page.items

    async def session_websocket(self, secure_id: str) -> list[WebSocketEvent]:
        return (await self.websocket_page(secure_id)).items

    async def session_tracks(self, secure_id: str) -> list[TrackEvent]:
        return (await self.track_page(secure_id)).items

    async def session_feedback(self, secure_id: str) -> list[Feedback]:
        return (await self.feedback_page(secure_id)).items

    # -- errors -----------------------------------------------------------------------------

    async def errors(
        self,
        project_ids: Sequence[int] | None,
        *,
        session_secure_id: str | None = None,
        fingerprint: str | None = None,
        trace_id: str | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[ErrorView]:
        clause, args = _in_projects("project_id", project_ids)
        where = [clause]
        if session_secure_id is not None:
            where.append("session_secure_id = ?")
            args.append(session_secure_id)
        if fingerprint is not None:
            where.append("fingerprint = ?")
            args.append(fingerprint)
        if trace_id is not None:
            where.append("trace_id = ?")
            args.append(trace_id)
        if before_id is not None:
            where.append("id < ?")
            args.append(before_id)
        order = "timestamp, id" if session_secure_id is not None else "id DESC"
        sql = f"SELECT * FROM errors WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"

        def read(conn: Connection) -> list[ErrorView]:
            return [_error_view(r) for r in conn.execute(sql, [*args, limit])]

        return await self._operator_read(read)

    async def error_groups(
        self,
        project_ids: Sequence[int] | None,
        *,
        fingerprint: str | None = None,
        after: tuple[int, int, str] | None = None,
        limit: int = 50,
    ) -> list[ErrorGroupView]:
        """Groups (project, fingerprint), most recently seen first; counts are aggregates.

        `after` is the (last_seen, project_id, fingerprint) of the previous page's last group.

        A group's type, message and `latest` are those of its most recent occurrence (by
        timestamp, then id): the one `last_seen` tells of, whatever order errors were stored in.
        """
        clause, args = _in_projects("e.project_id", project_ids)
        where = [clause, "e.project_id IS NOT NULL"]
        if fingerprint is not None:
            where.append("e.fingerprint = ?")
            args.append(fingerprint)
        having = ""
        if after is not None:
            having = (
                "HAVING max(e.timestamp) < ? OR (max(e.timestamp) = ?"
                " AND (e.project_id, e.fingerprint) > (?, ?))"
            )
            args_having: list[Any] = [after[0], after[0], after[1], after[2]]
        else:
            args_having = []
        sql = (
            "SELECT e.project_id, e.fingerprint, count(*) AS count,"
            " count(DISTINCT e.session_secure_id) AS sessions, min(e.timestamp) AS first_seen,"
            " max(e.timestamp) AS last_seen, (SELECT l.id FROM errors l"
            " WHERE l.project_id = e.project_id AND l.fingerprint = e.fingerprint"
            " ORDER BY l.timestamp DESC, l.id DESC LIMIT 1) AS latest_id FROM errors e"
            f" WHERE {' AND '.join(where)} GROUP BY e.project_id, e.fingerprint {having}"
            " ORDER BY last_seen DESC, e.project_id, e.fingerprint LIMIT ?"
        )

        def read(conn: Connection) -> list[ErrorGroupView]:
            groups = []
            for g in conn.execute(sql, [*args, *args_having, limit]).fetchall():
                latest = _occurrence(
                    conn.execute("SELECT * FROM errors WHERE id = ?", (g["latest_id"],)).fetchone()
                )
                groups.append(
                    ErrorGroupView(
                        project_id=g["project_id"],
                        fingerprint=g["fingerprint"],
                        type=latest.type,
                        message=latest.message,
                        count=g["count"],
                        sessions=g["sessions"],
                        first_seen=g["first_seen"],
                        last_seen=g["last_seen"],
                        latest=latest,
                    )
                )
            return groups

        return await self._operator_read(read)

    async def trace_spans(
        self,
        trace_ids: Sequence[str],
        project_ids: Sequence[int] | None,
        after: tuple[float, int] | None = None,
        limit: int = 200,
    ) -> list[SpanView]:
        if not trace_ids:
            return []
        clause, args = _in_projects("s.project_id", project_ids)
        where = [f"sp.trace_id IN ({', '.join('?' * len(trace_ids))})", clause]
        args = [*trace_ids, *args]
        if after is not None:
            where.append("(sp.started_at > ? OR (sp.started_at = ? AND sp.id > ?))")
            args += [after[0], after[0], after[1]]
        sql = (
            "SELECT sp.*, s.project_id FROM spans sp"
            " LEFT JOIN sessions s ON s.secure_id = sp.session_secure_id"
            f" WHERE {' AND '.join(where)} ORDER BY sp.started_at, sp.id LIMIT ?"
        )

        def read(conn: Connection) -> list[SpanView]:
            return [_span_view(r) for r in conn.execute(sql, [*args, limit])]

        return await self._operator_read(read)

    async def backend_services(self, project_ids: Sequence[int] | None) -> list[BackendService]:
        clause, args = _in_projects("project_id", project_ids)

        def read(conn: Connection) -> list[BackendService]:
            return [
                BackendService(r["project_id"], r["name"], r["first_seen"], r["last_seen"])
                for r in conn.execute(
                    f"SELECT * FROM backend_services WHERE {clause} ORDER BY project_id, name",
                    args,
                )
            ]

        return await self._operator_read(read)

    async def logs(self, query: LogQuery) -> list[LogView]:
        clause, args = _in_projects("project_id", query.project_ids)
        where = [clause]
        for column, value in (
            ("session_secure_id", query.session_secure_id),
            ("service_name", query.service_name),
            ("level", query.level),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if query.text is not None:
            where.append("lower(message) LIKE lower(?) ESCAPE '\\'")
            args.append(_like(query.text))
        if query.after is not None:
            where.append("timestamp >= ?")
            args.append(query.after)
        if query.before is not None:
            where.append("timestamp < ?")
            args.append(query.before)
        if query.cursor is not None:
            where.append("(timestamp < ? OR (timestamp = ? AND id < ?))")
            args += [query.cursor[0], query.cursor[0], query.cursor[1]]
        sql = (
            f"SELECT * FROM logs WHERE {' AND '.join(where)}"
            " ORDER BY timestamp DESC, id DESC LIMIT ?"
        )

        def read(conn: Connection) -> list[LogView]:
            return [_log_view(r) for r in conn.execute(sql, [*args, query.limit])]

        return await self._operator_read(read)

    # -- deletion and retention -------------------------------------------------------------

    async def delete_session(self, secure_id: str) -> bool:
        def delete(conn: Connection) -> bool:
            row = conn.execute(
                "SELECT id FROM sessions WHERE secure_id = ?", (secure_id,)
            ).fetchone()
            if row is None:
                return False
            delete_session_rows(conn, int(row[0]), secure_id)
            return True

        return await self._write(delete)

    async def set_retention(self, project_id: int, days: int | None) -> None:
        def update(conn: Connection) -> None:
            cur = conn.execute(
                "UPDATE projects SET retention_days = ? WHERE id = ?", (days, project_id)
            )
            if cur.rowcount == 0:
                raise UnknownProject(project_id)

        await self._write(update)

    async def purge_expired(self, now: int, batch: int = 100) -> PurgeResult:
        """Delete sessions older than their project's retention, `batch` at a time.

        Sessions go one transaction each, so a purge never holds the writer for long and a
        crash mid-purge leaves whole sessions, never half of one. OTLP batches and what they
        produced go once older than every project's retention (they can span projects).
        """
        sessions = 0
        while True:

            def expired(conn: Connection) -> list[tuple[int, str]]:
                return [
                    (r[0], r[1])
                    for r in conn.execute(
                        "SELECT s.id, s.secure_id FROM sessions s JOIN projects p"
                        " ON p.id = s.project_id WHERE p.retention_days IS NOT NULL"
                        " AND s.created_at < ? - p.retention_days * ? LIMIT ?",
                        (now, DAY_MS, batch),
                    )
                ]

            found = await self._read(expired)
            for session_id, secure_id in found:

                def delete(conn: Connection, sid: int = session_id, sec: str = secure_id) -> None:
                    delete_session_rows(conn, sid, sec)

                await self._write(delete)
            sessions += len(found)
            if len(found) < batch:
                break

        def purge_otlp(conn: Connection) -> int:
            row = conn.execute(
                "SELECT count(*) AS projects, count(retention_days) AS limited,"
                " max(retention_days) AS longest FROM projects"
            ).fetchone()
            if row["projects"] == 0 or row["limited"] < row["projects"]:
                return 0
            cutoff = now - row["longest"] * DAY_MS
            old = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM otlp_batches WHERE received_at < ? LIMIT ?", (cutoff, batch)
                )
            ]
            for batch_id in old:
                for table in DERIVED_BY_ORIGIN:
                    conn.execute(f"DELETE FROM {table} WHERE origin = ?", (f"otlp:{batch_id}",))
                conn.execute(
                    "DELETE FROM processing_queue WHERE kind = 'otlp' AND key = ?", (batch_id,)
                )
                conn.execute("DELETE FROM otlp_batches WHERE id = ?", (batch_id,))
            return len(old)

        orphans = 0
        while (purged := await self._write(purge_otlp)) > 0:
            orphans += purged
        return PurgeResult(sessions=sessions, orphans=orphans)

    # -- API tokens -------------------------------------------------------------------------

    async def add_token(
        self,
        token_hash: bytes,
        name: str,
        project_id: int | None,
        at: int,
        scope: TokenScope = "read",
    ) -> ApiToken:
        def add(conn: Connection) -> ApiToken:
            if (
                project_id is not None
                and not conn.execute(
                    "SELECT 1 FROM projects WHERE id = ?", (project_id,)
                ).fetchone()
            ):
                raise UnknownProject(project_id)
            token_id = conn.execute(
                "INSERT INTO api_tokens (token_hash, project_id, name, created_at, scope)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                (token_hash, project_id, name, at, scope),
            ).fetchone()[0]
            return ApiToken(int(token_id), name, project_id, at, scope)

        return await self._write(add)

    async def token_by_hash(self, token_hash: bytes) -> ApiToken | None:
        def read(conn: Connection) -> ApiToken | None:
            r = conn.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM api_tokens t WHERE t.token_hash = ?",
                (token_hash,),
            ).fetchone()
            return None if r is None else _token(r)

        return await self._operator_read(read)

    async def list_tokens(self) -> list[ApiToken]:
        def read(conn: Connection) -> list[ApiToken]:
            return [
                _token(r)
                for r in conn.execute(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens t ORDER BY t.id")
            ]

        return await self._read(read)

    async def revoke_token(self, token_id: int) -> bool:
        def revoke(conn: Connection) -> bool:
            return conn.execute("DELETE FROM api_tokens WHERE id = ?", (token_id,)).rowcount > 0

        return await self._write(revoke)

    # -- UI sessions ------------------------------------------------------------------------

    async def add_ui_session(self, id_hash: bytes, token_id: int, at: int, expires_at: int) -> None:
        def add(conn: Connection) -> None:
            # Expired sign-ins are dropped here rather than by a timer: sign-ins are rare.
            conn.execute("DELETE FROM ui_sessions WHERE expires_at <= ?", (at,))
            conn.execute(
                "INSERT INTO ui_sessions (id_hash, token_id, created_at, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (id_hash, token_id, at, expires_at),
            )

        await self._write(add)

    async def ui_session_token(self, id_hash: bytes, now: int) -> ApiToken | None:
        def read(conn: Connection) -> ApiToken | None:
            r = conn.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM ui_sessions u"
                " JOIN api_tokens t ON t.id = u.token_id WHERE u.id_hash = ? AND u.expires_at > ?",
                (id_hash, now),
            ).fetchone()
            return None if r is None else _token(r)

        return await self._operator_read(read)

    async def delete_ui_session(self, id_hash: bytes) -> None:
        def delete(conn: Connection) -> None:
            conn.execute("DELETE FROM ui_sessions WHERE id_hash = ?", (id_hash,))

        await self._write(delete)
