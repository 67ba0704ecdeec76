"""The embedded SQLite engine: one file under the data dir, in WAL mode.

Durability. The database runs with `synchronous=FULL`, so a COMMIT returns only after the WAL
is fsync'd; with the group commit of `footlight.store.sql.engine` (an fsync costs ~0.4 ms
here and SQLite allows one writer, so a commit per write would cap ingest at ~1.5k writes/s)
that is what a 2xx stands on: the data survives a crash or a power cut.

Readers use their own connections; WAL lets them run beside the writer. An operator read's
statements are stopped after `read_timeout_seconds` by a progress handler (SQLite's way to
interrupt a statement from inside; it costs one clock read per 10,000 VM instructions).

A checkpointer thread copies the WAL into the database file in the background, so commits
never stall behind a checkpoint's fsync, and starts the WAL over once it passes 64 MiB
(`Checkpointer`), holding the writer for the few milliseconds that takes. Other processes
(the CLI while `serve` runs) share the file through SQLite's own locking.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sqlite3
import stat
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from footlight.errors import StoreUnavailable
from footlight.store.base import Reclaimed, StoreFootprint, TableSize
from footlight.store.sql.engine import (
    DEFAULT_GATHER_FROM,
    Connection,
    Cursor,
    EngineBase,
    Migration,
    apply_pending,
    shipped_migrations,
)

T = TypeVar("T")
log = logging.getLogger("footlight.store")

DB_FILE = "footlight.db"
_INCREMENTAL = 2
"""PRAGMA auto_vacuum's value for incremental vacuum."""
_VACUUM_STEP_PAGES = 256
"""Free pages cut off the file per write (1 MiB at the default page size, 10-30 ms): ingest's
writes take their turns between steps, so a purge never stalls them for long."""


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


_PREPARED_STATEMENTS = 512
"""Statements a connection keeps prepared (Python's default: 128). The writer runs the
store's writes and the few shapes of each batch statement (`store.sql.shapes`); preparing
one again, and finalizing the one it evicts, each wait for the interpreter lock."""


def _connect_raw(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path,
        isolation_level=None,
        check_same_thread=False,
        timeout=10.0,
        cached_statements=_PREPARED_STATEMENTS,
    )
    conn.row_factory = sqlite3.Row
    # Takes effect only in a new, empty file (before WAL writes its header): a new store can
    # give the pages of purged data back to the file system a few at a time (`reclaim`).
    # An older store keeps "none" until `compact` rewrites it; this changes nothing there.
    conn.execute(f"PRAGMA auto_vacuum={_INCREMENTAL}")
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


def _create_private(data_dir: Path, path: Path) -> None:
    """The data dir (0700) and an empty database file (0600), if missing: every recording is
    in there, so only the user footlight runs as may read it. SQLite would create the file
    with the umask's mode (0644 usually); its -wal and -shm files take the database's mode."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


_warned: set[Path] = set()


def _warn_if_shared(data_dir: Path, path: Path) -> None:
    """Warn (once per process) when other users of this machine may read the store."""
    shared = [
        f"{candidate} (mode {stat.S_IMODE(mode):04o})"
        for candidate in (data_dir, path, Path(f"{path}-wal"), Path(f"{path}-shm"))
        if (mode := _mode(candidate)) is not None and mode & 0o077
    ]
    if not shared or data_dir.resolve() in _warned:
        return
    _warned.add(data_dir.resolve())
    log.warning(
        "other users of this machine may read every recording (group or other permissions"
        " on %s); to stop that: chmod 700 '%s' && chmod 600 '%s'*",
        ", ".join(shared),
        data_dir,
        path,
    )


def _mode(path: Path) -> int | None:
    try:
        return path.stat().st_mode
    except FileNotFoundError:
        return None


class Checkpointer:
    """Moves committed WAL frames into the database file beside the writer, and starts the
    WAL over before it grows far.

    A PASSIVE checkpoint copies what no reader still needs and never blocks the writer. It
    cannot make the WAL start over by itself: SQLite writes from the WAL's beginning again
    only when a write begins while every frame is copied already, and under steady ingest
    new frames arrive while a copy runs, so the WAL grew for as long as ingest lasted (24 MB/s
    at saturation in bench/run), and the TRUNCATE that reset the file at 256 MiB held every
    commit for 100-180 ms, every ~11 s. So when the WAL has passed `restart_bytes`, right
    after a passive pass, a RESTART checkpoint copies the few frames written meanwhile and
    lets the next write start the WAL over. It holds the writer's turn (`Writer.turn`) for
    those milliseconds, so the writer waits on a lock that wakes it at once rather than on
    SQLite's, which its busy handler polls in sleeps of 1 to 25 ms. The file keeps its size
    and is written over.

    When the WAL takes more than the file system has left (a disk that filled: the frames
    copied into the database grow its file while the WAL keeps its size), or passes
    `truncate_bytes` (the restarts kept failing), a TRUNCATE checkpoint resets the file to
    nothing instead, under the writer's turn too.

    Either waits for a reader still on old frames at most `_BUSY_MS`, holding the writer
    meanwhile. A reader that stays (an export reading for minutes) would make every pass
    hold it again, so after a reset that had to give up the next waits twice as many passes,
    up to `_MOST_PASSES_BETWEEN_TRIES`; the passive copies go on meanwhile.
    """

    def __init__(
        self,
        path: Path,
        turn: threading.Lock,
        interval: float = 0.5,
        restart_bytes: int = 64 * 1024 * 1024,
        truncate_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self._path = path
        self._turn = turn
        self._interval = interval
        self._restart_bytes = restart_bytes
        self._truncate_bytes = truncate_bytes
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="footlight-sqlite-checkpoint", daemon=True
        )
        self._page_size = 4096
        self._passes_to_skip = 0
        self._skipped = 0
        self.resets = 0
        """Resets of the WAL made (RESTART or TRUNCATE)."""
        self.given_up = 0
        """Resets that gave up on a reader."""

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        conn = _connect_raw(self._path)
        # Under the writer's turn a busy wait holds every commit: keep it short.
        conn.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
        self._page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        wal = Path(f"{self._path}-wal")
        try:
            while not self._stopping.wait(self._interval):
                # Busy, or a failing disk: the writer reports what matters. Either must not
                # end this thread, or the WAL would grow unchecked from then on.
                with contextlib.suppress(sqlite3.Error, OSError):
                    self._pass(conn, wal)
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    def _pass(self, conn: sqlite3.Connection, wal: Path) -> None:
        frames = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
        if self._skipped < self._passes_to_skip:
            self._skipped += 1
            return
        try:
            size = wal.stat().st_size
        except FileNotFoundError:
            size = 0
        # RESTART goes by the WAL in use, not by its file, which keeps its size when the WAL
        # starts over.
        if size > min(self._truncate_bytes, shutil.disk_usage(self._path.parent).free):
            reset = "TRUNCATE"
        elif frames * (self._page_size + _FRAME_HEADER) > self._restart_bytes:
            reset = "RESTART"
        else:
            return
        # Copied again first, without the turn: what the reset copies under it is only what
        # was committed during this short pass.
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        with self._turn:
            busy = conn.execute(f"PRAGMA wal_checkpoint({reset})").fetchone()[0]
        self._skipped = 0
        if busy:
            self.given_up += 1
            self._passes_to_skip = min(2 * self._passes_to_skip or 1, _MOST_PASSES_BETWEEN_TRIES)
        else:
            self.resets += 1
            self._passes_to_skip = 0


_FRAME_HEADER = 24
"""Bytes before each page in the WAL."""
_BUSY_MS = 20
"""How long the checkpointer's RESTART and TRUNCATE wait for readers (and for another
process's writer) before leaving it to a later pass."""
_MOST_PASSES_BETWEEN_TRIES = 16
"""After resets that gave up, passes skipped before the next try: 1, 2, 4, ... up to this."""

_PROGRESS_INSTRUCTIONS = 10_000


class SQLiteConnection:
    """A sqlite3 connection as the store's functions use it (see sql.engine.Connection)."""

    skip_locked = ""
    by_due = "INDEXED BY processing_due"
    exclusive = ""  # BEGIN IMMEDIATE: one write transaction at a time already

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw
        self._statement_timeout: float | None = None
        self._deadline = 0.0

    def limit_statements(self, seconds: float) -> None:
        """Interrupt any statement that runs longer than `seconds` (counted from execute, so
        rows still being fetched count too, as they do on PostgreSQL)."""
        self._statement_timeout = seconds
        self.raw.set_progress_handler(self._past_deadline, _PROGRESS_INSTRUCTIONS)

    def _past_deadline(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0

    def _start(self) -> None:
        if self._statement_timeout is not None:
            self._deadline = time.monotonic() + self._statement_timeout

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        self._start()
        return self.raw.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> Cursor:
        self._start()
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

    def limit_statements(self, conn: Connection, seconds: float) -> None:
        assert isinstance(conn, SQLiteConnection)
        conn.limit_statements(seconds)

    def timed_out(self, exc: Exception) -> bool:
        return (
            isinstance(exc, sqlite3.OperationalError)
            and exc.sqlite_errorcode == sqlite3.SQLITE_INTERRUPT
        )


def _no_autocheckpoint(conn: Connection) -> None:
    # Checkpoints (copying the WAL into the database, with an fsync) are the checkpointer
    # thread's job, so a commit never waits behind one.
    conn.execute("PRAGMA wal_autocheckpoint=0")


class SQLiteEngine(EngineBase):
    """The SQLite file `footlight.db` under `data_dir` (created if missing)."""

    def __init__(
        self,
        data_dir: Path,
        read_timeout: float | None = None,
        gather_seconds: float | None = None,
        gather_from: int = DEFAULT_GATHER_FROM,
    ) -> None:
        self.data_dir = data_dir
        self.path = data_dir / DB_FILE
        super().__init__(SQLiteBackend(self.path), read_timeout, gather_seconds, gather_from)
        self._checkpointer: Checkpointer | None = None

    def exists(self) -> bool:
        return self.path.exists()

    def describe(self) -> str:
        return f"SQLite {self.path.resolve()}"

    def _migrate(self) -> None:
        _create_private(self.data_dir, self.path)
        _warn_if_shared(self.data_dir, self.path)
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
        self.start(prepare=_no_autocheckpoint)
        assert self.writer_turn is not None
        self._checkpointer = Checkpointer(self.path, self.writer_turn)
        self._checkpointer.start()

    def free_disk_bytes(self) -> int | None:
        return shutil.disk_usage(self.data_dir).free

    async def prepare_partitions(self, now: int) -> None:
        """Nothing to prepare: SQLite gives purged space back page by page (`reclaim`)."""

    async def drop_payloads_before(self, cutoff: int) -> int:
        return 0

    async def footprint(self, tables: bool) -> StoreFootprint:
        def read(conn: Connection) -> tuple[int, list[TableSize]]:
            page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
            free_pages = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
            sizes: list[TableSize] = []
            if tables:
                names = [
                    r[0]
                    for r in conn.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table'"
                        " AND name NOT LIKE 'sqlite_%' ORDER BY name"
                    )
                ]
                for name in names:
                    rows = conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                    sizes.append(TableSize(name, int(rows), None))
            return page_size * free_pages, sizes

        reusable, sizes = await self.read(read)
        used = 0
        for candidate in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            with contextlib.suppress(FileNotFoundError):
                used += candidate.stat().st_size
        return StoreFootprint(used, reusable, self.free_disk_bytes(), sizes)

    async def reclaim(self) -> Reclaimed:
        def mode(conn: Connection) -> tuple[int, int, int]:
            return (
                int(conn.execute("PRAGMA auto_vacuum").fetchone()[0]),
                int(conn.execute("PRAGMA page_size").fetchone()[0]),
                int(conn.execute("PRAGMA freelist_count").fetchone()[0]),
            )

        vacuum, page_size, free = await self.read(mode)
        if vacuum != _INCREMENTAL:
            return Reclaimed(0, free * page_size)

        def step(conn: Connection) -> int:
            free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
            pages = min(free, _VACUUM_STEP_PAGES)
            # Python's sqlite3 steps a statement that returns no rows once, and each step of
            # incremental_vacuum frees one page: one page per statement.
            for _ in range(pages):
                conn.execute("PRAGMA incremental_vacuum(1)")
            return pages

        returned = 0
        while True:
            started = time.monotonic()
            pages = await self.write(step)
            if pages == 0:
                break
            returned += pages
            # As long again with the disk left to others: the moved pages reach the file at
            # the next checkpoint, whose writes and fsync a commit's fsync queues behind
            # (back to back, 45 MB of steps held one push for 0.55 s).
            await asyncio.sleep(time.monotonic() - started)
        # The file itself shrinks when the checkpointer copies the last of these commits.
        return Reclaimed(returned * page_size)

    async def compact(self) -> Reclaimed:
        before = self.path.stat().st_size

        def rewrite() -> None:
            conn = _connect_raw(self.path)
            try:
                conn.execute(f"PRAGMA auto_vacuum={_INCREMENTAL}")
                conn.execute("VACUUM")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()

        try:
            await asyncio.to_thread(rewrite)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"compacting {self.path} failed: {exc}") from exc
        return Reclaimed(max(before - self.path.stat().st_size, 0))

    async def close(self) -> None:
        await self.stop_writer()
        # After the writer: the checkpointer's last pass then copies the final commits.
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)
            self._checkpointer = None
        await self.stop_readers()
