"""Whole records of the SQL store, for tests and tools: a session with everything it was
sent, a project's backend errors, every stored OTLP export. No role protocol (store.base)
has these; the server reads pages, never a whole session."""

from __future__ import annotations

from typing import TypeVar

import msgspec

from footlight.store.base import (
    BackendErrorReport,
    Metric,
    OtlpBatch,
    SessionRecord,
)
from footlight.store.sql.access import Access
from footlight.store.sql.engine import Connection
from footlight.store.sql.rows import (
    SELECT_SESSION,
    backend_error,
    feedback,
    session_fields,
    stored_payloads,
    stored_session,
)

T = TypeVar("T")


class InspectionQueries(Access):
    async def session_record(self, secure_id: str) -> SessionRecord | None:
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

        return await self._read(read)

    async def backend_errors(self, project_id: int) -> list[BackendErrorReport]:
        def read(conn: Connection) -> list[BackendErrorReport]:
            return [
                backend_error(r)
                for r in conn.execute(
                    "SELECT * FROM backend_errors WHERE project_id = ? ORDER BY id", (project_id,)
                )
            ]

        return await self._read(read)

    async def otlp_batches(self) -> list[OtlpBatch]:
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

        return await self._read(read)
