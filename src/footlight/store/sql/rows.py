"""Rows to records: how each stored table reads back, in one place for every query."""

from __future__ import annotations

from typing import Any

from footlight.store.base import (
    BackendError,
    Feedback,
    PayloadSummary,
    SessionField,
    StoredPayload,
)
from footlight.store.sql.engine import Connection


def stored_payloads(conn: Connection, session_id: int) -> list[StoredPayload]:
    return [
        StoredPayload(
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
            body=bytes(p["body"]),
        )
        for p in conn.execute(
            "SELECT * FROM payloads WHERE session_id = ? ORDER BY payload_id, seq", (session_id,)
        )
    ]


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


def backend_error(row: Any) -> BackendError:
    return BackendError(
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
