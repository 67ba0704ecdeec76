"""The embedded SQLite engine: one file under the data dir, in WAL mode.

Durability. The database runs with `synchronous=FULL`, so a COMMIT returns only after the WAL
is fsync'd; with the group commit of `footlight.store.sql.engine` (an fsync costs ~0.4 ms
here and SQLite allows one writer, so a commit per write would cap ingest at ~1.5k writes/s)
that is what a 2xx stands on: the data survives a crash or a power cut.

Readers use their own connections; WAL lets them run beside the writer. A checkpointer
thread copies the WAL into the database file in the background, so commits never stall
behind a checkpoint's fsync. Other processes (the CLI while `serve` runs) share the file
through SQLite's own locking.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from footlight.store.base import StoreUnavailable
from footlight.store.sql.engine import (
    Connection,
    Cursor,
    Migration,
    Readers,
    Writer,
    apply_pending,
    shipped_migrations,
)

T = TypeVar("T")

DB_FILE = "footlight.db"


def _enable_wal(conn: sqlite3.Connection, timeout: float) -> None:
    # Turning a new database into WAL takes an exclusive lock, and SQLite answers SQLITE_BUSY
    # at once, without its busy handler, while another process holds any lock on the file:
    # two processes opening a fresh store together would see "database is locked". Wait for
    # the lock the way the busy handler would.
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _connect_raw(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    conn.row_factory = sqlite3.Row
    _enable_wal(conn, timeout=10.0)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def _split_statements(script: str) -> list[str]:
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in current.splitlines()
    ):
        raise ValueError(f"incomplete SQL statement in migration: {current[:80]!r}")
    return statements


def migrations() -> list[Migration]:
    """(version, name, sql) of every migration shipped with this version, in order."""
    return shipped_migrations("footlight.store.sqlite")


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    for statement in _split_statements(script):
        conn.execute(statement)


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending migrations atomically; safe when several processes start at once."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    )
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = apply_pending(
            SQLiteConnection(conn), migrations(), lambda sql: _run_script(conn, sql)
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return current


class Checkpointer:
    """Moves committed WAL frames into the database file, beside the writer, never in its way.

    A PASSIVE checkpoint copies what no reader still needs and never blocks the writer. When
    the WAL has grown past `truncate_bytes` (a burst outran the passive passes), a TRUNCATE
    checkpoint resets it; that briefly waits for the writer, so it is the exception.
    """

    def __init__(
        self, path: Path, interval: float = 0.5, truncate_bytes: int = 256 * 1024 * 1024
    ) -> None:
        self._path = path
        self._interval = interval
        self._truncate_bytes = truncate_bytes
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="footlight-sqlite-checkpoint", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        conn = _connect_raw(self._path)
        wal = Path(f"{self._path}-wal")
        try:
            while not self._stopping.wait(self._interval):
                try:
                    grown = wal.exists() and wal.stat().st_size > self._truncate_bytes
                    conn.execute(f"PRAGMA wal_checkpoint({'TRUNCATE' if grown else 'PASSIVE'})")
                except sqlite3.Error:
                    continue  # busy or failing disk: the writer reports what matters
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()


class SQLiteConnection:
    """A sqlite3 connection as the store's functions use it (see sql.engine.Connection)."""

    skip_locked = ""
    exclusive = ""  # BEGIN IMMEDIATE: one write transaction at a time already

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        return self.raw.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> Cursor:
        return self.raw.executemany(sql, parameters)

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        marks = ", ".join("?" * len(columns))
        self.raw.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def close(self) -> None:
        self.raw.close()


class SQLiteBackend:
    name = "SQLite"
    begin = "BEGIN IMMEDIATE"
    errors: tuple[type[Exception], ...] = (sqlite3.Error,)
    refusals: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
    retryable: tuple[type[Exception], ...] = ()

    def __init__(self, path: Path) -> None:
        self.path = path

    def connect(self) -> Connection:
        return SQLiteConnection(_connect_raw(self.path))


def _no_autocheckpoint(conn: Connection) -> None:
    # Checkpoints (copying the WAL into the database, with an fsync) are the checkpointer
    # thread's job, so a commit never waits behind one.
    conn.execute("PRAGMA wal_autocheckpoint=0")


class SQLiteEngine:
    """The SQLite file `footlight.db` under `data_dir` (created if missing)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / DB_FILE
        self._backend = SQLiteBackend(self.path)
        self._writer: Writer | None = None
        self._readers: Readers | None = None
        self._checkpointer: Checkpointer | None = None

    def exists(self) -> bool:
        return self.path.exists()

    def describe(self) -> str:
        return f"SQLite {self.path.resolve()}"

    def _migrate(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conn = _connect_raw(self.path)
        try:
            migrate(conn)
        finally:
            conn.close()

    async def open(self) -> None:
        try:
            # In a thread: connecting waits (up to 10 s) while another process holds the file.
            await asyncio.to_thread(self._migrate)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"cannot open the store at {self.path}: {exc}") from exc
        self._writer = Writer(self._backend, prepare=_no_autocheckpoint)
        self._writer.start()
        self._readers = Readers(self._backend)
        self._checkpointer = Checkpointer(self.path)
        self._checkpointer.start()

    async def close(self) -> None:
        if self._writer is not None:
            await asyncio.to_thread(self._writer.stop)
            self._writer = None
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)
            self._checkpointer = None
        if self._readers is not None:
            await asyncio.to_thread(self._readers.close)  # waits for reads under way
            self._readers = None

    def write(self, fn: Callable[[Connection], T]) -> asyncio.Future[T]:
        if self._writer is None:
            raise StoreUnavailable("the store is not open")
        return self._writer.submit(fn)

    async def read(self, fn: Callable[[Connection], T]) -> T:
        if self._readers is None:
            raise StoreUnavailable("the store is not open")
        return await self._readers.run(fn)
