"""How the SQL store reaches its database: one writer thread with group commit, a few readers.

Both backends (SQLite, PostgreSQL) run the store's functions the same way; a `Backend` says
how to connect, how to begin a write transaction and which of its errors mean what.

Group commit. Every write is a small function queued to a single writer thread, which takes
everything queued while the previous COMMIT ran, runs the functions one after another and
commits them together. A caller's coroutine resumes only after the COMMIT that holds its
write: that is what lets the HTTP edge answer 2xx. A batch's callers hear with one wake-up
of their event loop, not one each. Under load, batches grow by themselves,
and after a large one the next waits a few milliseconds for more (`Writer`, gather); when
idle, a write commits at once.

What the writes of a batch queue for processing is written at its end, in one statement
(`BatchEnd`): each push queued its session twice (processing and live), two more of its
statements. The writer thread's every statement gives up the interpreter lock and waits to
take it back from the event loop, so a statement saved is a wait saved.

Writes of one kind can also be run together (`Together`): the batch's pushes are then one
multi-row INSERT and a few statements in all, not a few each. The group's function decides
each write's refusal before it writes anything; any failure of it makes the batch run
again, each write alone.

One refused write must not undo its neighbours, yet almost no write is refused: a batch
first runs without savepoints (a SAVEPOINT and its RELEASE were two of a push's six
statements, and on PostgreSQL two of its round trips). If a write raises, the transaction
is rolled back and the batch runs again with each write in its own SAVEPOINT, so that only
the refused one is undone. A batch of one needs no second run: its rollback is the undoing.
The functions are therefore run twice at times, as they already were for a retryable abort;
they touch nothing but the connection they are given.

Failures. A write the database refuses (a constraint, a value it cannot hold) fails alone
with `StoreError`, in its savepoint. Any other database error fails the whole batch with
`StoreUnavailable` (the edge answers 503 with Retry-After) and drops the connection; the
next batch reconnects, so a restarted database is picked up without a restart of footlight.
A batch the database aborted to break a deadlock, or for serialization, is run again (a few
times) before giving up. Writes still queued when the store closes fail with
`StoreUnavailable`.

Reads run on thread pools, one connection per thread, reconnecting the same way; a read the
database refuses (a value it cannot hold) is a `StoreError`. There are three pools, "lanes",
so that one kind of read never waits behind another (`ReadLanes`):

* ingest: the lookups an SDK's request waits on (a project key, an old numeric session id);
  they are index lookups, and nothing else runs there;
* operator: the read API and the UI. Their reads are bounded in rows by the callers, and
  each statement in time by `read_timeout_seconds` (`Backend.limit_statements`): a statement
  that runs longer is stopped and the read fails with `ReadTimeout`;
* internal: processing, retention and the CLI, which read whole sessions and may take long.

Before the lanes, two operator reads of a session with a million console messages held both
reader threads for 16 s and every initializeSession behind them waited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal, Protocol, TypeVar

import msgspec

from footlight import metrics
from footlight.core.clock import now_ms
from footlight.errors import ReadTimeout, StoreError, StoreUnavailable

T = TypeVar("T")
log = logging.getLogger("footlight.store")

_MAX_BATCH = 256
"""Writes in one group commit at most (pushes run together: see `Together`)."""
DEFAULT_GATHER_FROM = 8
"""A batch of this many writes or more says they arrive faster than commits end: the next
batch gathers (see `Writer`; `FOOTLIGHT_COMMIT_GATHER_FROM`)."""
_RETRIES = 3


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What the store's functions use: `?` placeholders, rows readable by name and index."""

    skip_locked: str
    """A claim's row-lock clause: "FOR UPDATE SKIP LOCKED" where rows can be locked."""

    by_due: str
    """How a claim reads the processing queue: through its due-time index. SQLite's planner,
    without statistics, takes the primary key for `kind IN (...)` and sorts every queued job
    of those kinds, ~0.6 ms with 4,000 queued, where the index reads only the due ones
    (~20 µs). "" where the planner chooses from statistics (PostgreSQL)."""

    exclusive: str
    """A statement after which the rest of the write transaction runs alone among the
    transactions (of any process) that ran it too; "" where write transactions already
    exclude each other (SQLite). For check-then-insert without a unique key to rely on."""

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> Cursor: ...

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert many rows of plain values (no SQL expressions) as fast as the engine can:
        PostgreSQL's COPY, several times faster than single INSERTs for the thousands of
        rows one session's processing may write."""

    def close(self) -> None: ...


class Backend(Protocol):
    name: str
    begin: str
    """The statement that starts a write transaction."""
    errors: tuple[type[Exception], ...]
    """What the driver raises for any database error."""
    refusals: tuple[type[Exception], ...]
    """Constraint violations and values the database cannot hold: the input is refused
    (StoreError), the others in its batch go on and the connection is kept."""
    retryable: tuple[type[Exception], ...]
    """Aborts that succeed when simply run again (deadlock victims, serialization)."""

    def connect(self) -> Connection: ...

    def limit_statements(self, conn: Connection, seconds: float) -> None:
        """Make the database stop any statement of `conn` that runs longer than `seconds`."""

    def timed_out(self, exc: Exception) -> bool:
        """Whether `exc` is a statement stopped by `limit_statements`."""


ReadLane = Literal["ingest", "operator", "internal"]


Migration = tuple[int, str, str]
"""(version, file name, SQL) of a migration shipped with footlight."""


def shipped_migrations(package: str) -> list[Migration]:
    """The migrations in `package`'s `migrations` folder (`<version>_<name>.sql`), in order."""
    folder = resources.files(package).joinpath("migrations")
    return sorted(
        (int(entry.name.split("_", 1)[0]), entry.name, entry.read_text("utf-8"))
        for entry in folder.iterdir()
        if re.fullmatch(r"\d+_.*\.sql", entry.name)
    )


def apply_pending(
    conn: Connection, known: Sequence[Migration], run: Callable[[str], object]
) -> int:
    """Apply the migrations newer than the store's schema with `run`; return its version.

    The caller holds its engine's lock against concurrent migrations, in a transaction that
    commits them all or none.
    """
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    current = int(row[0]) if row is not None else 0
    if current > (known[-1][0] if known else 0):
        raise StoreUnavailable(
            f"the store is at schema version {current}, newer than this footlight knows;"
            " upgrade footlight"
        )
    for version, name, sql in known:
        if version <= current:
            continue
        run(sql)
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (version, name, now_ms()),
        )
        current = version
    return current


class BatchEnd(Protocol):
    """Writes a batch's functions leave for the end of its transaction, all in one go.

    Runs on the writer thread only: after each write the writer says whether it stands
    (`settle`), then `flush`es what the standing ones left just before COMMIT, and `discard`s
    everything when the transaction is rolled back instead."""

    def settle(self, ok: bool) -> None:
        """The write that just ran stands (what it left is kept) or was undone (dropped)."""

    def flush(self, conn: Connection) -> None:
        """Write what the standing writes left; the next batch starts empty."""

    def discard(self) -> None:
        """Forget what this batch's writes left: its transaction was rolled back."""


class Together(msgspec.Struct, frozen=True):
    """A write that may run with the others of its `run` in the same batch.

    `run(conn, items)` gets the `item` of each, in batch order, and returns, for each, its
    outcome: (True, result) or (False, StoreError) for a refusal. It must write nothing for
    a write it refuses. If `run` raises, the batch runs again with each write alone (its
    own function, which may well be `run` of its one item).
    """

    run: Callable[[Connection, list[Any]], list[tuple[bool, Any]]]
    item: Any


@dataclass
class _Job:
    fn: Callable[[Connection], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    together: Together | None = None


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # cancelled: its caller no longer waits
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _settle_all(settled: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in settled:
        _settle(future, ok, value)


class Writer:
    """The single writer thread and its group commit (see the module docstring).

    `gather_seconds`: after a batch of `gather_from` writes or more, the next one waits this
    long from its first write before it is taken, so that more writes share its COMMIT.
    Under load the writer is what ingest waits on, and a commit's cost is mostly per batch:
    the COMMIT's fsync, the pages it writes to the log, and each statement giving up the
    interpreter lock and waiting to take it back from the event loop. Below that load
    (smaller batches) a write commits at once. A lower `gather_from` gathers at lower loads
    too: less CPU per write there, for the wait (bench/README.md, "An AMD EPYC VM, below
    saturation").
    """

    def __init__(
        self,
        backend: Backend,
        prepare: Callable[[Connection], None] | None = None,
        batch_end: BatchEnd | None = None,
        gather_seconds: float | None = None,
        gather_from: int = DEFAULT_GATHER_FROM,
    ) -> None:
        self._backend = backend
        self._prepare = prepare
        self._batch_end = batch_end
        self._gather_seconds = gather_seconds or 0.0
        self._gather_from = gather_from
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, name=f"footlight-{backend.name.lower()}-writer", daemon=True
        )
        self._conn: Connection | None = None
        # Guards `_closed` with the queue's puts: once the thread has closed, no job can
        # slip into the queue after its final drain.
        self._closing = threading.Lock()
        self._closed = False
        self.turn = threading.Lock()
        """Held while a batch is written and committed. Housekeeping that needs the
        database without a writer for a moment (SQLite's WAL restart) takes it: the writer
        then waits on this lock, woken the moment it is released, rather than on the
        database's own lock, which SQLite's busy handler polls in sleeps of 1 to 25 ms."""

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def submit(
        self, fn: Callable[[Connection], T], together: Together | None = None
    ) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._closing:
            if self._closed or not self._thread.is_alive():
                future.set_exception(StoreUnavailable("the store is closed"))
                return future
            self._queue.put(_Job(fn, future, loop, together))
        return future

    @staticmethod
    def _answer(job: _Job, ok: bool, value: Any) -> None:
        # A caller whose event loop has closed no longer waits; the write stands.
        with contextlib.suppress(RuntimeError):
            job.loop.call_soon_threadsafe(_settle, job.future, ok, value)

    @staticmethod
    def _answer_all(batch: list[_Job], outcomes: list[tuple[bool, Any]]) -> None:
        """Tell a batch's callers, one wake-up per event loop rather than one per write:
        each wake-up writes to the loop's self-pipe, a system call that gives up the
        interpreter lock and waits to take it back."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for job, (ok, value) in zip(batch, outcomes, strict=True):
            by_loop.setdefault(job.loop, []).append((job.future, ok, value))
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle_all, settled)

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._backend.connect()
            if self._prepare is not None:
                self._prepare(self._conn)
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(*self._backend.errors, OSError):
                self._conn.close()
            self._conn = None

    def _run(self) -> None:
        stopping = False
        last = 0
        while not stopping:
            job = self._queue.get()
            if job is None:
                break
            if last >= self._gather_from and self._gather_seconds:
                time.sleep(self._gather_seconds)
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
            last = len(batch)
            with self.turn:
                outcomes = self._commit_with_retries(batch)
            self._answer_all(batch, outcomes)
        self._drop()
        with self._closing:
            self._closed = True
        # Jobs submitted during stop() sit behind its stop mark; their callers must hear.
        closed = StoreUnavailable("the store is closed")
        while True:
            try:
                left = self._queue.get_nowait()
            except queue.Empty:
                break
            if left is not None:
                self._answer(left, False, closed)

    def _commit_with_retries(self, batch: list[_Job]) -> list[tuple[bool, Any]]:
        started = time.perf_counter()
        outcomes = self._attempts(batch)
        metrics.commit_seconds.observe(time.perf_counter() - started)
        metrics.commit_writes.observe(len(batch))
        if outcomes and isinstance(outcomes[0][1], StoreUnavailable) and not outcomes[0][0]:
            metrics.commit_failures.inc()
        return outcomes

    def _attempts(self, batch: list[_Job]) -> list[tuple[bool, Any]]:
        for attempt in range(_RETRIES):
            try:
                outcomes = self._commit(batch, isolated=len(batch) == 1)
                if outcomes is None:
                    metrics.commit_replays.inc()
                    outcomes = self._commit(batch, isolated=True)
                assert outcomes is not None
                return outcomes
            except self._backend.retryable as exc:
                log.warning("write batch aborted (%s), running it again", exc)
                if attempt == _RETRIES - 1:
                    return [(False, StoreUnavailable(f"{self._backend.name}: {exc}"))] * len(batch)
            except self._backend.errors as exc:
                self._drop()
                failure = StoreUnavailable(f"{self._backend.name} write failed: {exc}")
                return [(False, failure)] * len(batch)
            except OSError as exc:
                self._drop()
                return [(False, StoreUnavailable(f"{self._backend.name}: {exc}"))] * len(batch)
        raise AssertionError("unreachable")  # pragma: no cover

    def _commit(self, batch: list[_Job], *, isolated: bool) -> list[tuple[bool, Any]] | None:
        """Run `batch` in one transaction and commit it; each write's outcome.

        `isolated`: each write runs in its own savepoint (or alone in the transaction), and
        one that fails is undone alone. Otherwise the first write that fails rolls the
        transaction back and None asks for the batch to run again, isolated.
        """
        conn = self._connection()
        outcomes: list[tuple[bool, Any]] = []
        savepoints = isolated and len(batch) > 1
        end = self._batch_end
        if end is not None:
            end.discard()  # a batch before this one may have failed between write and flush
        conn.execute(self._backend.begin)
        try:
            try:
                grouped = {} if isolated else self._run_together(conn, batch)
            except Exception as exc:
                if isinstance(exc, self._backend.errors) and not isinstance(
                    exc, self._backend.refusals
                ):
                    raise
                log.warning("writes run together failed (%s); running each alone", exc)
                self._roll_back(conn)
                return None
            for job in batch:
                decided = grouped.get(id(job))
                if decided is not None:
                    outcomes.append(decided)
                    continue
                if savepoints:
                    conn.execute("SAVEPOINT job")
                try:
                    outcomes.append((True, job.fn(conn)))
                except self._backend.errors as exc:
                    if not isinstance(exc, self._backend.refusals):
                        raise
                    # A constraint we did not anticipate: refuse this write, keep the others.
                    outcomes.append((False, StoreError(f"refused by the store: {exc}")))
                except Exception as exc:
                    # StoreError and StoreUnavailable (the store's own refusals), or a write
                    # that fails otherwise (a value the database cannot hold): it fails alone;
                    # left to escape, it would end this thread and strand its callers.
                    outcomes.append((False, exc))
                else:
                    if savepoints:
                        conn.execute("RELEASE SAVEPOINT job")
                    if end is not None:
                        end.settle(True)
                    continue
                if end is not None:
                    end.settle(False)
                if not isolated:
                    self._roll_back(conn)
                    return None
                if savepoints:
                    conn.execute("ROLLBACK TO SAVEPOINT job")
                    conn.execute("RELEASE SAVEPOINT job")
            if isolated and not savepoints and not outcomes[0][0]:
                self._roll_back(conn)  # the batch's one write failed: undo what it did
            else:
                if end is not None:
                    end.flush(conn)
                conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(*self._backend.errors, OSError):
                self._roll_back(conn)
            raise
        return outcomes

    def _run_together(self, conn: Connection, batch: list[_Job]) -> dict[int, tuple[bool, Any]]:
        """Run the batch's writes that go together, a group at a time; each one's outcome,
        by the id of its job."""
        groups: dict[Callable[[Connection, list[Any]], list[tuple[bool, Any]]], list[_Job]] = {}
        for job in batch:
            if job.together is not None:
                groups.setdefault(job.together.run, []).append(job)
        decided: dict[int, tuple[bool, Any]] = {}
        for run, jobs in groups.items():
            if len(jobs) == 1:
                continue  # alone anyway
            outcomes = run(conn, [job.together.item for job in jobs if job.together])
            if self._batch_end is not None:
                self._batch_end.settle(True)
            decided.update(zip((id(job) for job in jobs), outcomes, strict=True))
        return decided

    def _roll_back(self, conn: Connection) -> None:
        if self._batch_end is not None:
            self._batch_end.discard()
        conn.execute("ROLLBACK")


class Readers:
    """Read connections, one per pool thread."""

    def __init__(
        self,
        backend: Backend,
        threads: int = 2,
        *,
        lane: ReadLane = "internal",
        statement_timeout: float | None = None,
    ) -> None:
        self._backend = backend
        self._statement_timeout = statement_timeout
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix=f"footlight-{backend.name.lower()}-{lane}"
        )
        self._conns: list[Connection] = []
        self._lock = threading.Lock()

    def _conn(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._backend.connect()
            if self._statement_timeout is not None:
                try:
                    self._backend.limit_statements(conn, self._statement_timeout)
                except BaseException:
                    with contextlib.suppress(*self._backend.errors, OSError):
                        conn.close()
                    raise
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def _drop(self) -> None:
        conn: Connection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                self._conns.remove(conn)
            with contextlib.suppress(*self._backend.errors, OSError):
                conn.close()

    async def run(self, fn: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()

        failures: tuple[type[Exception], ...] = (*self._backend.errors, OSError)

        def call() -> T:
            try:
                return fn(self._conn())
            except self._backend.refusals as exc:
                # The query's values (a NUL on PostgreSQL), not the database: bad input.
                raise StoreError(f"refused by the store: {exc}") from exc
            except failures as exc:
                if self._statement_timeout is not None and self._backend.timed_out(exc):
                    # The connection is fine: only the statement was stopped.
                    raise ReadTimeout(
                        f"the read ran longer than {self._statement_timeout:g} s and was stopped"
                        " (limit: read_timeout_seconds); ask for less (filters, a smaller"
                        " limit) or raise FOOTLIGHT_READ_TIMEOUT_SECONDS"
                    ) from exc
                self._drop()
                raise StoreUnavailable(f"{self._backend.name} read failed: {exc}") from exc

        return await loop.run_in_executor(self._pool, call)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(*self._backend.errors, OSError):
                    conn.close()
            self._conns.clear()


class ReadLanes:
    """The three reader pools of an engine (see the module docstring)."""

    def __init__(self, backend: Backend, operator_timeout: float | None) -> None:
        self._lanes: dict[ReadLane, Readers] = {
            "ingest": Readers(backend, 2, lane="ingest"),
            "operator": Readers(backend, 2, lane="operator", statement_timeout=operator_timeout),
            "internal": Readers(backend, 1, lane="internal"),
        }

    async def run(self, lane: ReadLane, fn: Callable[[Connection], T]) -> T:
        return await self._lanes[lane].run(fn)

    def close(self) -> None:
        for readers in self._lanes.values():
            readers.close()


class EngineBase:
    """What both engines' lifecycles share: one writer thread and the read lanes over a
    `Backend`, started by `start` and stopped by `stop`; `write`/`read` refuse while closed.
    Each engine adds its own opening (migrations, file checks) and housekeeping threads."""

    def __init__(
        self,
        backend: Backend,
        read_timeout: float | None,
        gather_seconds: float | None = None,
        gather_from: int = DEFAULT_GATHER_FROM,
    ) -> None:
        self._backend = backend
        self._read_timeout = read_timeout
        self._gather_seconds = gather_seconds
        self._gather_from = gather_from
        self._writer: Writer | None = None
        self._readers: ReadLanes | None = None
        self.batch_end: BatchEnd | None = None
        """What the store's writes leave for the end of each batch (set before `open`)."""

    def start(self, prepare: Callable[[Connection], None] | None = None) -> None:
        self._writer = Writer(
            self._backend,
            prepare=prepare,
            batch_end=self.batch_end,
            gather_seconds=self._gather_seconds,
            gather_from=self._gather_from,
        )
        self._writer.start()
        self._readers = ReadLanes(self._backend, self._read_timeout)

    @property
    def writer_turn(self) -> threading.Lock | None:
        """The writer's `Writer.turn`, while it runs."""
        return self._writer.turn if self._writer is not None else None

    async def stop(self) -> None:
        await self.stop_writer()
        await self.stop_readers()

    async def stop_writer(self) -> None:
        """Commit what is queued and end the writer thread."""
        if self._writer is not None:
            await asyncio.to_thread(self._writer.stop)
            self._writer = None

    async def stop_readers(self) -> None:
        if self._readers is not None:
            await asyncio.to_thread(self._readers.close)  # waits for reads under way
            self._readers = None

    def write(
        self, fn: Callable[[Connection], T], together: Together | None = None
    ) -> asyncio.Future[T]:
        if self._writer is None:
            raise StoreUnavailable("the store is not open")
        return self._writer.submit(fn, together)

    async def read(self, fn: Callable[[Connection], T], lane: ReadLane = "internal") -> T:
        if self._readers is None:
            raise StoreUnavailable("the store is not open")
        return await self._readers.run(lane, fn)
