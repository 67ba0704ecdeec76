"""Whole records of a store, as tests check them: a session with everything it was sent, a
project's backend errors, every stored OTLP export, a session's whole timelines.

The server never reads these (it reads pages, on its role protocols); tests do, through the
store's engine and the store's own row decoders (`footlight.store.sql.rows`).
"""

from __future__ import annotations

import msgspec

from footlight.core.records import ConsoleMessage, NetworkRequest, TrackEvent, WebSocketEvent
from footlight.store import SQLStore
from footlight.store.base import BackendErrorReport, Feedback, Metric, OtlpBatch, SessionRecord
from footlight.store.sql.engine import Connection
from footlight.store.sql.rows import (
    SELECT_SESSION,
    backend_error,
    feedback,
    network_request,
    session_fields,
    stored_payloads,
    stored_session,
)


async def session_record(store: SQLStore, secure_id: str) -> SessionRecord | None:
    def read(conn: Connection) -> SessionRecord | None:
        row = conn.execute(SELECT_SESSION, (secure_id,)).fetchone()
        if row is None:
            return None
        record = SessionRecord(stored_session(row))
        sid = record.session.id
        record.payloads = stored_payloads(conn, sid)
        record.fields = session_fields(conn, sid)
        record.feedback = [
            feedback(f)
            for f in conn.execute(
                "SELECT * FROM feedback WHERE session_id = ? ORDER BY timestamp, id", (sid,)
            )
        ]
        record.metrics = [
            Metric(
                secure_id,
                m["name"],
                m["value"],
                m["timestamp"],
                m["group_name"],
                m["category"],
                m["span_id"],
                m["parent_span_id"],
                m["trace_id"],
                tuple(msgspec.json.decode(m["tags"], type=dict[str, str]).items()),
            )
            for m in conn.execute(
                "SELECT * FROM metrics WHERE session_id = ? ORDER BY timestamp, id", (sid,)
            )
        ]
        return record

    return await store.engine.read(read)


async def backend_errors(store: SQLStore, project_id: int) -> list[BackendErrorReport]:
    def read(conn: Connection) -> list[BackendErrorReport]:
        rows = conn.execute(
            "SELECT * FROM backend_errors WHERE project_id = ? ORDER BY id", (project_id,)
        )
        return [backend_error(r) for r in rows]

    return await store.engine.read(read)


async def otlp_batches(store: SQLStore) -> list[OtlpBatch]:
    def read(conn: Connection) -> list[OtlpBatch]:
        return [
            OtlpBatch(
                r["signal"],
                r["content_type"],
                r["content_encoding"],
                r["received_at"],
                bytes(r["body"]),
            )
            for r in conn.execute("SELECT * FROM otlp_batches ORDER BY id")
        ]

    return await store.engine.read(read)


async def session_console(store: SQLStore, secure_id: str) -> list[ConsoleMessage]:
    return (await store.console_page(secure_id)).items


async def session_network(store: SQLStore, secure_id: str) -> list[NetworkRequest]:
    def read(conn: Connection) -> list[NetworkRequest]:
        rows = conn.execute(
            "SELECT * FROM network_requests WHERE session_secure_id = ? ORDER BY started_at, id",
            (secure_id,),
        )
        return [network_request(r) for r in rows]

    return await store.engine.read(read)


async def session_websocket(store: SQLStore, secure_id: str) -> list[WebSocketEvent]:
    return (await store.websocket_page(secure_id)).items


async def session_tracks(store: SQLStore, secure_id: str) -> list[TrackEvent]:
    return (await store.track_page(secure_id)).items


async def session_feedback(store: SQLStore, secure_id: str) -> list[Feedback]:
    return (await store.feedback_page(secure_id)).items
