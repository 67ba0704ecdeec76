"""The SQLite engine: one file in WAL mode, written by one thread, read by a small pool.

Durability. The database runs with `synchronous=FULL`, so a COMMIT returns only after the WAL
is fsync'd; a caller's coroutine is resumed only after the COMMIT that holds its write. That
is what lets the HTTP edge answer 2xx: the data survives a crash or a power cut.

Group commit. An fsync costs ~0.4 ms here and SQLite allows one writer, so a write per
transaction would cap ingest at ~1.5k writes/s. Instead every write is a small function
queued to a single writer thread, which takes everything queued while the previous COMMIT
was running, runs each job inside its own SAVEPOINT (so one refused job does not undo its
neighbours) and commits them together. Under load batches grow by themselves; when idle a
write commits alone, at once.

Reads use separate connections on a small thread pool; WAL lets them run beside the writer.
A checkpointer thread copies the WAL into the database file in the background, so commits
never stall behind a checkpoint's fsync.
Other processes (the CLI while `serve` runs) share the file through SQLite's own locking.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from footlight.store.base import StoreError, StoreUnavailable

T = TypeVar("T")

DB_FILE = "footlight.db"
_MAX_BATCH = 256


def now_ms() -> int:
    return int(time.time() * 1000)


def digest(*parts: bytes) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.digest()


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


def connect(path: Path) -> sqlite3.Connection:
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


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped with this version, in order."""
    found = []
    for entry in resources.files("footlight.store.sqlite").joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending migrations atomically; safe when several processes start at once."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    )
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = conn.execute(
            "SELECT coalesce(max(version), 0) FROM schema_migrations"
        ).fetchone()[0]
        known = migrations()
        if current > (known[-1][0] if known else 0):
            raise StoreUnavailable(
                f"the store is at schema version {current}, newer than this footlight knows; "
                "upgrade footlight"
            )
        for version, name, sql in known:
            if version <= current:
                continue
            for statement in _split_statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, now_ms()),
            )
            current = version
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return int(current)


@dataclass
class _Job:
    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class Writer:
    """The single writer thread and its group commit (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, name="footlight-sqlite-writer", daemon=True
        )
        self._conn: sqlite3.Connection | None = None
        self._checkpointer = Checkpointer(path)

    def start(self) -> None:
        self._conn = connect(self._path)
        # Checkpoints (copying the WAL into the database, with an fsync) are the checkpointer
        # thread's job, so a commit never waits behind one.
        self._conn.execute("PRAGMA wal_autocheckpoint=0")
        self._thread.start()
        self._checkpointer.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._checkpointer.stop()

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if not self._thread.is_alive():
            future.set_exception(StoreUnavailable("the store is closed"))
            return future
        self._queue.put(_Job(fn, future, loop))
        return future

    def _run(self) -> None:
        conn = self._conn
        assert conn is not None
        stopping = False
        while not stopping:
            job = self._queue.get()
            if job is None:
                break
            batch = [job]
            while len(batch) < _MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
            self._commit(conn, batch)
        conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                conn.execute("SAVEPOINT job")
                try:
                    outcomes.append((True, job.fn(conn)))
                except (StoreError, StoreUnavailable) as exc:
                    conn.execute("ROLLBACK TO job")
                    outcomes.append((False, exc))
                except sqlite3.IntegrityError as exc:
                    # A constraint we did not anticipate: refuse this job, keep the others.
                    conn.execute("ROLLBACK TO job")
                    outcomes.append((False, StoreError(f"refused by the store: {exc}")))
                except sqlite3.Error:
                    raise
                except Exception as exc:
                    # A job that fails otherwise (a value SQLite cannot hold, say) fails alone;
                    # left to escape, it would end this thread and strand every waiting caller.
                    conn.execute("ROLLBACK TO job")
                    outcomes.append((False, exc))
                conn.execute("RELEASE job")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            failure = StoreUnavailable(f"SQLite write failed: {exc}")
            outcomes = [(False, failure)] * len(batch)
        for job, (ok, value) in zip(batch, outcomes, strict=True):
            # A caller whose event loop has closed no longer waits; the write stands anyway.
            with contextlib.suppress(RuntimeError):
                job.loop.call_soon_threadsafe(_settle, job.future, ok, value)


class Checkpointer:
    """Moves committed WAL frames into the database file, beside the writer, never in its way.

    A PASSIVE checkpoint copies what no reader still needs and never blocks the writer. When
    the WAL has grown past `truncate_bytes` (a burst outran the passive passes), a TRUNCATE
    checkpoint resets it; that briefly waits for the writer, so it is the exception.
    """

    def __init__(
        self, path: Path, interval: float = 0.1, truncate_bytes: int = 256 * 1024 * 1024
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
        conn = connect(self._path)
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


class Readers:
    """Read-only connections, one per pool thread."""

    def __init__(self, path: Path, threads: int = 2) -> None:
        self._path = path
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="footlight-sqlite-read"
        )
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self._path)
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()

        def call() -> T:
            try:
                return fn(self._conn())
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"SQLite read failed: {exc}") from exc

        return await loop.run_in_executor(self._pool, call)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
