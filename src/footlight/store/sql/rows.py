"""Rows to records: how each stored table reads back, in one place for every query."""

from __future__ import annotations

from typing import Any

from footlight.core.payload import PayloadSummary
from footlight.store.base import (
    BackendErrorReport,
    Feedback,
    SessionField,
    StoredPayload,
)
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
    for row in facts:
        if chosen and total + row["size"] > max_bytes:
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
    return [_stored_payload(r, bodies[r["seq"]]) for r in chosen if r["seq"] in bodies]


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
