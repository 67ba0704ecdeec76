"""What every part of SQLiteStore shares: the writer and readers, and small SQL helpers."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from footlight.store.base import JobKind, ProcessingTiming, StoreUnavailable, UnknownSession
from footlight.store.sqlite.engine import Readers, Writer

T = TypeVar("T")

json_encode = msgspec.json.Encoder().encode


def to_json(value: Any) -> str:
    return json_encode(value).decode()


def from_json(text: str | None) -> Any:
    return None if text is None else msgspec.json.decode(text)


def session_id_of(conn: sqlite3.Connection, secure_id: str) -> int:
    row = conn.execute("SELECT id FROM sessions WHERE secure_id = ?", (secure_id,)).fetchone()
    if row is None:
        raise UnknownSession(secure_id)
    return int(row[0])


class Access:
    """The writer thread and the reader pool, once the store is open."""

    timing: ProcessingTiming
    _writer: Writer | None = None
    _readers: Readers | None = None

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        if self._writer is None:
            raise StoreUnavailable("the store is not open")
        return self._writer.submit(fn)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._readers is None:
            raise StoreUnavailable("the store is not open")
        return await self._readers.run(fn)

    def _schedule(self, conn: sqlite3.Connection, kind: JobKind, key: int, now: int) -> None:
        """Queue `key` for processing, in the transaction that stored its new input.

        New input pushes a pending job back (a session is processed once it goes quiet),
        but never later than `max_delay_ms` after the job was first queued.
        """
        delay = self.timing.inactivity_ms if kind == "session" else 0
        conn.execute(
            "INSERT INTO processing_queue (kind, key, first_enqueued_at, due_at)"
            " VALUES (?, ?, ?, ?)"
            " ON CONFLICT (kind, key) DO UPDATE SET version = version + 1,"
            " due_at = min(?, first_enqueued_at + ?)",
            (kind, key, now, now + delay, now + delay, self.timing.max_delay_ms),
        )
