"""What every part of the SQL store shares: its engine, and small SQL helpers.

The store's SQL is written once for both backends: `?` placeholders, `ON CONFLICT`,
`RETURNING`, row values, and no function only one of them has.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import msgspec

from footlight.errors import UnknownProject, UnknownSession
from footlight.store.base import JobKind, ProcessingTiming, Reclaimed, StoreFootprint
from footlight.store.sql.engine import BatchEnd, Connection, ReadLane, Together
from footlight.store.sql.queueing import QueueRows

T = TypeVar("T")

json_encode = msgspec.json.Encoder().encode


def digest(*parts: bytes) -> bytes:
    """A content identity for rows that are stored once (metrics, backend errors, exports)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.digest()


def to_json(value: Any) -> str:
    return json_encode(value).decode()


def from_json(text: str | None) -> Any:
    return None if text is None else msgspec.json.decode(text)


def like_pattern(text: str) -> str:
    """A LIKE pattern for `text` anywhere; SQL folds it with lower(?), as it folds the column.

    Folding in Python instead would fold more than SQLite's lower() (ASCII only) does to the
    column, and "Émile" would not find itself there. The engines still differ: PostgreSQL
    folds non-ASCII letters too, SQLite only ASCII ones.
    """
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def in_projects(column: str, project_ids: Sequence[int] | None) -> tuple[str, list[Any]]:
    if project_ids is None:
        return "TRUE", []
    return f"{column} IN ({', '.join('?' * len(project_ids))})", list(project_ids)


def require_project(conn: Connection, project_id: int | None) -> None:
    """Refuse (`UnknownProject`) a write naming a project this store does not have; None
    names no project and passes."""
    if (
        project_id is not None
        and not conn.execute("SELECT 1 FROM projects WHERE id = ?", (project_id,)).fetchone()
    ):
        raise UnknownProject(project_id)


def session_id_of(conn: Connection, secure_id: str) -> int:
    row = conn.execute("SELECT id FROM sessions WHERE secure_id = ?", (secure_id,)).fetchone()
    if row is None:
        raise UnknownSession(secure_id)
    return int(row[0])


class Engine(Protocol):
    """A database the SQL store runs on (SQLite file, PostgreSQL server)."""

    def exists(self) -> bool: ...

    def describe(self) -> str: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def write(
        self, fn: Callable[[Connection], T], together: Together | None = None
    ) -> asyncio.Future[T]: ...

    async def read(self, fn: Callable[[Connection], T], lane: ReadLane = "internal") -> T: ...

    async def footprint(self, tables: bool) -> StoreFootprint:
        """What the store takes on disk (and, if `tables`, each table's rows)."""

    def free_disk_bytes(self) -> int | None:
        """Free space where the store's files are, if they are on this machine."""

    async def prepare_partitions(self, now: int) -> None:
        """Make what payloads of sessions starting about `now` will be stored in."""

    async def drop_payloads_before(self, cutoff: int) -> int:
        """Drop, whole, the payloads of sessions started before `cutoff` where the engine
        keeps them apart (PostgreSQL's monthly partitions); return the bytes freed."""

    async def reclaim(self) -> Reclaimed:
        """Give deleted data's space back to the file system, without long write stalls."""

    async def compact(self) -> Reclaimed:
        """Rewrite the whole store; writes wait until it is done."""

    batch_end: BatchEnd | None
    """What the store's writes leave for the end of each group commit (set before `open`)."""


class Access:
    """The engine, once the store is open."""

    timing: ProcessingTiming
    engine: Engine
    queue_rows: QueueRows

    def _write(
        self, fn: Callable[[Connection], T], together: Together | None = None
    ) -> asyncio.Future[T]:
        return self.engine.write(fn, together)

    async def _read(self, fn: Callable[[Connection], T]) -> T:
        """A read of processing, retention or the CLI (the internal lane)."""
        return await self.engine.read(fn)

    async def _ingest_read(self, fn: Callable[[Connection], T]) -> T:
        """A lookup an SDK request waits on: its own lane, never behind an operator's read."""
        return await self.engine.read(fn, "ingest")

    async def _operator_read(self, fn: Callable[[Connection], T]) -> T:
        """A read of the read API or the UI: its statements are stopped after
        `read_timeout_seconds` (ReadTimeout); callers bound its rows."""
        return await self.engine.read(fn, "operator")

    def _schedule(self, kind: JobKind, key: int, now: int) -> None:
        """Queue `key` for processing, in the transaction that stored its new input (written
        at the end of its batch: `footlight.store.sql.queueing`).

        New input pushes a pending job back (a session is processed once it goes quiet),
        but never later than `max_delay_ms` after the job was first queued.
        """
        delay = self.timing.inactivity_ms if kind == "session" else 0
        self.queue_rows.quiet(kind, key, now, delay)

    def _schedule_live(self, session_id: int, now: int) -> None:
        """Queue the session's live derivation (unless it is off), in the transaction that
        stored a payload (`QueueRows.soon`)."""
        if self.timing.live_delay_ms is not None:
            self.queue_rows.soon("live", session_id, now, self.timing.live_delay_ms)

    def _schedule_soon(
        self,
        conn: Connection,
        kind: JobKind,
        session_id: int,
        now: int,
        delay_ms: int,
        only_if: str,
    ) -> None:
        """Queue a session's job, due `delay_ms` after the first payload since its last run
        and never pushed back by later ones: a session pushing without pause is followed all
        the same. `only_if` is an SQL condition (its `?` the session's id) without which
        nothing is queued: written at once, as it needs the condition's answer."""
        due = now + delay_ms
        args = (session_id,) if "?" in only_if else ()
        conn.execute(
            "INSERT INTO processing_queue (kind, key, first_enqueued_at, due_at)"
            f" SELECT ?, ?, ?, ? WHERE {only_if}"
            " ON CONFLICT (kind, key) DO UPDATE SET version = processing_queue.version + 1,"
            " due_at = CASE WHEN processing_queue.due_at < ? THEN processing_queue.due_at"
            " ELSE ? END",
            (kind, session_id, now, due, *args, due, due),
        )
