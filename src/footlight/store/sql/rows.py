"""Rows to records: how each stored table reads back, in one place for every query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from footlight.core.payload import PayloadSummary
from footlight.core.records import (
    ConsoleMessage,
    ErrorOccurrence,
    LogEntry,
    NetworkRequest,
    StackFrame,
    TrackEvent,
    WebSocketEvent,
)
from footlight.store.base import (
    ApiToken,
    BackendErrorReport,
    ErrorView,
    Feedback,
    LogView,
    Session,
    SessionField,
    SessionSummary,
    SessionView,
    SpanRecord,
    SpanView,
    StoredPayload,
)
from footlight.store.sql.access import from_json
from footlight.store.sql.engine import Connection


def _stored_payload(p: Any, body: bytes) -> StoredPayload:
    return StoredPayload(
        seq=p["seq"],
        payload_id=p["payload_id"],
        source=p["source"],
        received_at=p["received_at"],
        summary=PayloadSummary(
            p["event_count"],
            p["first_event_at"],
            p["last_event_at"],
            bool(p["has_full_snapshot"]),
        ),
        body=body,
    )


def stored_payloads(conn: Connection, session_id: int) -> list[StoredPayload]:
    return [
        _stored_payload(p, bytes(p["body"]))
        for p in conn.execute(
            "SELECT * FROM payloads WHERE session_id = ? ORDER BY payload_id, seq", (session_id,)
        )
    ]


_PAYLOAD_FACTS = (
    "seq, payload_id, source, received_at, event_count, first_event_at, last_event_at,"
    " has_full_snapshot"
)
# How many payloads one page looks at; their bodies are then read only as far as they fit.
_PAGE_ROWS = 64


def payload_page(
    conn: Connection, session_id: int, after: tuple[int, int] | None, max_bytes: int
) -> list[StoredPayload]:
    """A session's payloads after `after` (payload_id, seq) in replay order, bodies included,
    as many as fit in `max_bytes` of bodies (at least one).

    Sizes are read first (`length` needs no body on either engine), so a page never holds
    more than `max_bytes` of bodies, or one body larger than that.
    """
    return payload_page_and_more(conn, session_id, after, max_bytes)[0]


def payload_page_and_more(
    conn: Connection, session_id: int, after: tuple[int, int] | None, max_bytes: int
) -> tuple[list[StoredPayload], bool]:
    """`payload_page`, and whether more payloads follow it."""
    where = "session_id = ?"
    args: list[Any] = [session_id]
    if after is not None:
        where += " AND (payload_id > ? OR (payload_id = ? AND seq > ?))"
        args += [after[0], after[0], after[1]]
    facts = conn.execute(
        f"SELECT {_PAYLOAD_FACTS}, length(body) AS size FROM payloads WHERE {where}"
        " ORDER BY payload_id, seq LIMIT ?",
        [*args, _PAGE_ROWS],
    ).fetchall()
    chosen: list[Any] = []
    total = 0
    more = len(facts) == _PAGE_ROWS
    for row in facts:
        if chosen and total + row["size"] > max_bytes:
            more = True
            break
        chosen.append(row)
        total += row["size"]
    bodies = (
        {
            r["seq"]: bytes(r["body"])
            for r in conn.execute(
                f"SELECT seq, body FROM payloads WHERE seq IN ({', '.join('?' * len(chosen))})",
                [r["seq"] for r in chosen],
            )
        }
        if chosen
        else {}
    )
    # A payload deleted between the two reads (its session was) is left out.
    return [_stored_payload(r, bodies[r["seq"]]) for r in chosen if r["seq"] in bodies], more


def session_fields(conn: Connection, session_id: int) -> list[SessionField]:
    return [
        SessionField(f["kind"], f["key"], f["value"])
        for f in conn.execute(
            "SELECT kind, key, value FROM session_fields WHERE session_id = ?"
            " ORDER BY received_at, kind, key",
            (session_id,),
        )
    ]


def feedback(row: Any) -> Feedback:
    return Feedback(row["verbatim"], row["timestamp"], row["user_name"], row["user_email"])


def backend_error(row: Any) -> BackendErrorReport:
    return BackendErrorReport(
        event=row["event"],
        type=row["type"],
        url=row["url"],
        source=row["source"],
        stack_trace=row["stack_trace"],
        timestamp=row["timestamp"],
        session_secure_id=row["session_secure_id"],
        request_id=row["request_id"],
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        log_cursor=row["log_cursor"],
        payload=row["payload"],
        service_name=row["service_name"],
        service_version=row["service_version"],
        environment=row["environment"],
    )


SUMMARY_COLUMNS = (
    "started_at", "ended_at", "length_ms", "active_ms", "pages_visited", "click_count",
    "rage_click_count", "event_count", "payload_count", "error_count", "console_count",
    "network_count", "browser_name", "browser_version", "os_name", "os_version", "device_type",
    "language", "landing_page", "exit_page",
)  # fmt: skip


def summarised_session(row: Any, fields: Sequence[SessionField] = ()) -> SessionView:
    summary = None
    if row["processed_at"] is not None:
        summary = SessionSummary(
            **{c: row[c] for c in SUMMARY_COLUMNS}, details=from_json(row["details"]) or {}
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


def api_token(row: Any) -> ApiToken:
    return ApiToken(row["id"], row["name"], row["project_id"], row["created_at"], row["scope"])


def stack_frames(text: str) -> tuple[StackFrame, ...]:
    return tuple(StackFrame(**f) for f in from_json(text) or [])


def error_occurrence(row: Any) -> ErrorOccurrence:
    return ErrorOccurrence(
        timestamp=row["timestamp"],
        type=row["type"],
        message=row["message"],
        frames=stack_frames(row["frames"]),
        url=row["url"],
        payload=row["payload"],
        source=row["source"],
        service_name=row["service_name"],
        service_version=row["service_version"],
        environment=row["environment"],
    )


def error_view(row: Any) -> ErrorView:
    return ErrorView(
        id=row["id"],
        project_id=row["project_id"],
        session_secure_id=row["session_secure_id"],
        fingerprint=row["fingerprint"],
        error=error_occurrence(row),
        trace_id=row["trace_id"],
    )


def span_view(r: Any) -> SpanView:
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


def log_view(r: Any) -> LogView:
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


def console_message(r: Any) -> ConsoleMessage:
    return ConsoleMessage(
        timestamp=r["timestamp"],
        level=r["level"],
        message=r["message"],
        trace=stack_frames(r["trace"]),
        attributes=from_json(r["attributes"]) or {},
        source=r["source"] or ("otlp" if r["origin"].startswith("otlp:") else "payload"),
    )


def network_request(r: Any) -> NetworkRequest:
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


def websocket_event(r: Any) -> WebSocketEvent:
    return WebSocketEvent(
        r["timestamp"], r["socket_id"], r["type"], r["name"], r["size"], r["message"]
    )


def track_event(r: Any) -> TrackEvent:
    return TrackEvent(r["timestamp"], r["name"], from_json(r["properties"]) or {})


SELECT_SESSION = (
    "SELECT id, secure_id, project_id, created_at, client_id, environment, app_version,"
    " service_name, client_version, client_config, user_agent, accept_language, identifier,"
    " user_object FROM sessions WHERE secure_id = ?"
)


def stored_session(row: Any) -> Session:
    return Session(**dict(zip(row.keys(), row, strict=True)))
