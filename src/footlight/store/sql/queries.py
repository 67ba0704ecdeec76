"""The read side of the SQL store for sessions: lists, one session, its properties, payloads
and timelines (console, network, websocket, track events, feedback, errors).

What the read API and the UI read runs on the engine's operator lane (`_operator_read`):
never in the way of ingest, each statement stopped after `read_timeout_seconds`. Every read
there is bounded in rows too: a session's timelines are read a page at a time, in (time, id)
order from the index on (session, time), and a session view holds at most
`MAX_VIEW_FIELDS` of its properties.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any, TypeVar

from footlight.core.records import (
    ConsoleMessage,
    TrackEvent,
    WebSocketEvent,
)
from footlight.store.base import (
    MAX_VIEW_FIELDS,
    ErrorView,
    Feedback,
    NetworkWindow,
    Page,
    RecordingPage,
    SessionField,
    SessionQuery,
    SessionView,
    TimelineKey,
)
from footlight.store.sql.access import Access, in_projects, like_pattern
from footlight.store.sql.engine import Connection
from footlight.store.sql.rows import (
    SUMMARY_COLUMNS,
    console_message,
    error_view,
    feedback,
    network_request,
    payload_page,
    summarised_session,
    track_event,
    websocket_event,
)

T = TypeVar("T")

_SESSION_SELECT = (
    "SELECT s.id, s.secure_id, s.project_id, s.created_at, s.client_id, s.identifier, s.email,"
    " s.user_object, s.environment, s.app_version, s.service_name, s.client_version,"
    " s.user_agent, ss.processed_at, ss.details, "
    + ", ".join(f"ss.{c}" for c in SUMMARY_COLUMNS)
    + ", EXISTS (SELECT 1 FROM processing_queue q WHERE q.kind = 'session' AND q.key = s.id"
    " AND q.quarantined_at IS NULL)"
    " AS processing FROM sessions s LEFT JOIN session_summaries ss ON ss.session_id = s.id"
)


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


class SessionQueries(Access):
    # -- sessions ---------------------------------------------------------------------------

    async def list_sessions(self, query: SessionQuery) -> list[SessionView]:
        where, args = [], []
        clause, ids = in_projects("s.project_id", query.project_ids)
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
            args.extend([like_pattern(query.user)] * 2)
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
            args.append(like_pattern(query.url_contains))
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
            return [summarised_session(r) for r in conn.execute(sql, args)]

        return await self._operator_read(read)

    async def session_view(self, secure_id: str, *, fields: bool = True) -> SessionView | None:
        """One session with its summary and (unless `fields` is False, for a cheaper look-up)
        its first `MAX_VIEW_FIELDS` properties."""

        def read(conn: Connection) -> SessionView | None:
            row = conn.execute(f"{_SESSION_SELECT} WHERE s.secure_id = ?", (secure_id,)).fetchone()
            if row is None:
                return None
            if not fields:
                return summarised_session(row)
            found, complete = _view_fields(conn, row["id"])
            view = summarised_session(row, found)
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

    async def recording_page(
        self, session_id: int, after: tuple[int, int] | None, max_bytes: int
    ) -> RecordingPage:
        """The session's payloads after `after` in replay order, as many as fit in
        `max_bytes` of stored bodies (at least one, while any is left)."""

        def read(conn: Connection) -> RecordingPage:
            page = payload_page(conn, session_id, after, max_bytes)
            more = (
                page
                and conn.execute(
                    "SELECT 1 FROM payloads WHERE session_id = ? AND (payload_id > ?"
                    " OR (payload_id = ? AND seq > ?)) LIMIT 1",
                    (session_id, page[-1].payload_id, page[-1].payload_id, page[-1].seq),
                ).fetchone()
            )
            last = conn.execute(
                "SELECT max(received_at) FROM payloads WHERE session_id = ?", (session_id,)
            ).fetchone()
            return RecordingPage(
                [p.body for p in page],
                (page[-1].payload_id, page[-1].seq) if page else None,
                bool(more),
                None if last[0] is None else int(last[0]),
            )

        return await self._operator_read(read)

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
            lambda conn: _CONSOLE.page(conn, secure_id, after, limit, console_message)
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
            page = [(_NETWORK.key(r), network_request(r)) for r in rows[:limit]]
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
                before=[(_NETWORK.key(r), network_request(r)) for r in reversed(before)],
                page=page,
                after=[(_NETWORK.key(r), network_request(r)) for r in following],
                more=more,
            )

        return await self._operator_read(read)

    async def websocket_page(
        self, secure_id: str, after: TimelineKey | None = None, limit: int | None = None
    ) -> Page[WebSocketEvent]:
        return await self._operator_read(
            lambda conn: _WEBSOCKET.page(conn, secure_id, after, limit, websocket_event)
        )

    async def track_page(
        self, secure_id: str, after: TimelineKey | None = None, limit: int | None = None
    ) -> Page[TrackEvent]:
        return await self._operator_read(
            lambda conn: _TRACK.page(conn, secure_id, after, limit, track_event)
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
            lambda conn: _ERRORS.page(conn, secure_id, after, limit, error_view)
        )
