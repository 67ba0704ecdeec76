"""The embedded SQLite store, used directly through its async API, on real files.

Proven here:

* migrations are versioned: one `schema_migrations` row per shipped migration; reopening a
  store applies nothing; a store written by a newer footlight is refused; two processes
  opening a fresh store at the same moment both succeed and apply the schema once;
* group commit: hundreds of writes issued at once all return and are all stored, and a job
  refused (or failing) inside a batch does not undo the other jobs of that batch;
* idempotency and refusals: a retried payload is stored once, the first initializeSession
  wins, all-or-nothing writes store nothing when refused, project keys are unique;
* `check_writable` commits on a healthy store and reports one whose disk refuses writes;
* checkpoints: under commits that never pause, with a reader beside them, the WAL starts
  over near its bound; a reader that stays on old frames is waited for less and less often,
  and the WAL starts over once it is gone; the writer waits while the checkpointer holds
  its turn, and commits once it is given back.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from footlight.config import MiB
from footlight.core.payload import PayloadSummary
from footlight.errors import (
    SessionOfAnotherProject,
    StoreError,
    StoreUnavailable,
    UnknownProject,
    UnknownSession,
)
from footlight.store import (
    BackendErrorReport,
    IncomingPayload,
    Metric,
    NewSession,
    Session,
    SessionField,
    SessionRecord,
    SQLiteStore,
)
from footlight.store.sql.processing import claim_statement
from footlight.store.sqlite import DB_FILE, migrations
from footlight.store.sqlite.engine import Checkpointer, SQLiteConnection, SQLiteEngine
from tests.helpers.inspection import backend_errors, session_record
from tests.helpers.store import using


async def nothing(_store: SQLiteStore) -> None:
    pass


def query(data_dir: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run SQL on the database file with plain sqlite3, beside (not through) the store."""
    with contextlib.closing(sqlite3.connect(data_dir / DB_FILE, isolation_level=None)) as conn:
        return conn.execute(sql, params).fetchall()


def applied_migrations(data_dir: Path) -> list[tuple[Any, ...]]:
    return query(
        data_dir, "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
    )


def shipped_migrations() -> list[tuple[int, str]]:
    return [(version, name) for version, name, _sql in migrations()]


def new_session(secure_id: str, project_id: int = 1, **details: Any) -> NewSession:
    return NewSession(
        secure_id=secure_id, project_id=project_id, created_at=1_700_000_000_000, **details
    )


def incoming(payload_id: int, content: bytes = b'{"events":{"events":[]}}') -> IncomingPayload:
    """A push of `content`; the digest names the content, as ingest computes it."""
    return IncomingPayload(
        payload_id=payload_id,
        digest=hashlib.blake2b(content, digest_size=16).digest(),
        source="compressed",
        received_at=1_700_000_000_000,
        summary=PayloadSummary(
            event_count=0, first_event_at=None, last_event_at=None, has_full_snapshot=False
        ),
        body=gzip.compress(content, mtime=0),
    )


async def record_of(store: SQLiteStore, secure_id: str) -> SessionRecord:
    record = await session_record(store, secure_id)
    assert record is not None, f"session {secure_id} is not stored"
    return record


async def stored_payloads(store: SQLiteStore, secure_id: str) -> list[tuple[int, bytes]]:
    record = await record_of(store, secure_id)
    return [(p.payload_id, gzip.decompress(p.body)) for p in record.payloads]


async def project_with_session(store: SQLiteStore, secure_id: str) -> Session:
    await store.ensure_default_project()
    return await store.initialize_session(new_session(secure_id))


@contextlib.contextmanager
def write_lock_held_elsewhere(data_dir: Path) -> Iterator[None]:
    """Hold the database's write lock from another connection, as a CLI command would.

    The store's writer thread waits for the lock, so every write issued meanwhile piles up in
    its queue and is committed in the same batch once the lock is released.
    """
    with contextlib.closing(sqlite3.connect(data_dir / DB_FILE, isolation_level=None)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("COMMIT")


# -- migrations --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_each_shipped_migration_is_recorded_once(tmp_path: Path) -> None:
    await using(SQLiteStore(tmp_path), nothing)

    assert shipped_migrations(), "footlight ships no migration"
    assert [(v, name) for v, name, _at in applied_migrations(tmp_path)] == shipped_migrations()


@pytest.mark.anyio
async def test_reopening_a_store_applies_nothing_and_keeps_its_data(tmp_path: Path) -> None:
    async def create_project(store: SQLiteStore) -> None:
        await store.create_project("kept")

    async def project_is_still_there(store: SQLiteStore) -> None:
        assert [p.name for p in await store.list_projects()] == ["kept"]

    await using(SQLiteStore(tmp_path), create_project)
    before = applied_migrations(tmp_path)
    await using(SQLiteStore(tmp_path), project_is_still_there)

    assert applied_migrations(tmp_path) == before


@pytest.mark.anyio
async def test_a_store_from_a_newer_footlight_is_refused(tmp_path: Path) -> None:
    await using(SQLiteStore(tmp_path), nothing)
    future = shipped_migrations()[-1][0] + 1
    query(
        tmp_path,
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
        future,
        f"{future:04d}_from_the_future.sql",
        1,
    )
    before = applied_migrations(tmp_path)

    with pytest.raises(StoreUnavailable, match=rf"schema version {future}\b"):
        await SQLiteStore(tmp_path).open()

    assert applied_migrations(tmp_path) == before


# Each opener reads a directory per line from stdin and opens (creating) the store there;
# both processes are already running and waiting, so their opens start at the same moment.
OPEN_STORES_WHEN_TOLD = """
import asyncio, sys
from pathlib import Path
from footlight.store import SQLiteStore
from footlight.errors import StoreUnavailable

async def open_and_close(data_dir):
    store = SQLiteStore(Path(data_dir))
    await store.open()
    await store.close()

loop = asyncio.new_event_loop()
print("ready", flush=True)
while data_dir := sys.stdin.readline().strip():
    try:
        loop.run_until_complete(open_and_close(data_dir))
        print("opened", flush=True)
    except StoreUnavailable as exc:
        print("refused:", exc, flush=True)
"""


def start_opener() -> subprocess.Popen[str]:
    opener = subprocess.Popen(
        [sys.executable, "-c", OPEN_STORES_WHEN_TOLD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert opener.stdout is not None
    assert opener.stdout.readline() == "ready\n"
    return opener


def open_in(opener: subprocess.Popen[str], data_dir: Path) -> None:
    assert opener.stdin is not None
    opener.stdin.write(f"{data_dir}\n")
    opener.stdin.flush()


def answer(opener: subprocess.Popen[str]) -> str:
    assert opener.stdout is not None
    return opener.stdout.readline().strip()


def test_two_processes_opening_a_fresh_store_at_once_both_succeed(tmp_path: Path) -> None:
    openers = [start_opener(), start_opener()]
    try:
        # Many fresh stores, because the processes only collide when their opens overlap.
        for attempt in range(25):
            data_dir = tmp_path / f"store-{attempt}"
            for opener in openers:
                open_in(opener, data_dir)

            assert [answer(opener) for opener in openers] == ["opened", "opened"], attempt
            applied = [(v, name) for v, name, _at in applied_migrations(data_dir)]
            assert applied == shipped_migrations(), attempt
    finally:
        for opener in openers:
            opener.communicate(input="", timeout=60)


# -- group commit ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_hundreds_of_concurrent_writes_all_return_and_are_all_stored(tmp_path: Path) -> None:
    secure_ids = [f"group-{n:02d}" for n in range(50)]

    def content(secure_id: str, payload_id: int) -> bytes:
        return f'{{"session":"{secure_id}","payload":{payload_id}}}'.encode()

    async def scenario(store: SQLiteStore) -> None:
        await store.ensure_default_project()
        await asyncio.gather(*(store.initialize_session(new_session(s)) for s in secure_ids))
        writes: list[Awaitable[bool | None]] = []
        for secure_id in secure_ids:
            for n in range(5):
                writes.append(store.append_payload(secure_id, incoming(n, content(secure_id, n))))
                fields = [SessionField("session", f"key-{n}", secure_id)]
                writes.append(store.add_fields(secure_id, fields, at=n))

        results = await asyncio.gather(*writes)

        assert len(results) == 500
        assert results[0::2] == [True] * 250
        assert results[1::2] == [None] * 250
        for secure_id in secure_ids:
            assert await stored_payloads(store, secure_id) == [
                (n, content(secure_id, n)) for n in range(5)
            ]
            record = await record_of(store, secure_id)
            assert sorted((f.key, f.value) for f in record.fields) == [
                (f"key-{n}", secure_id) for n in range(5)
            ]

    await using(SQLiteStore(tmp_path), scenario)


async def in_one_batch(data_dir: Path, writes: Sequence[Awaitable[Any]]) -> list[Any]:
    """Issue `writes` while the write lock is held elsewhere, so they commit as one batch."""
    with write_lock_held_elsewhere(data_dir):
        tasks = [asyncio.ensure_future(write) for write in writes]
        await asyncio.sleep(0)  # every task runs up to its await: its job is queued
    return await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.anyio
async def test_a_refused_job_does_not_undo_the_rest_of_its_batch(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        await project_with_session(store, "known")
        writes = [store.append_payload("known", incoming(n)) for n in range(10)]
        writes.append(store.append_payload("unknown", incoming(99)))
        writes += [store.append_payload("known", incoming(n)) for n in range(10, 20)]

        results = await in_one_batch(tmp_path, writes)

        assert results[:10] == [True] * 10
        assert isinstance(results[10], UnknownSession)
        assert results[11:] == [True] * 10
        assert [pid for pid, _ in await stored_payloads(store, "known")] == list(range(20))

    await using(SQLiteStore(tmp_path), scenario)
    assert query(tmp_path, "SELECT count(*) FROM payloads") == [(20,)]


@pytest.mark.anyio
async def test_a_job_failing_unexpectedly_fails_alone_and_the_store_keeps_writing(
    tmp_path: Path,
) -> None:
    async def scenario(store: SQLiteStore) -> None:
        await project_with_session(store, "known")
        too_large_for_sqlite = 2**70
        writes = [
            store.append_payload("known", incoming(1)),
            store.append_payload("known", incoming(too_large_for_sqlite)),
            store.append_payload("known", incoming(2)),
        ]

        results = await in_one_batch(tmp_path, writes)

        assert results[0] is True
        assert isinstance(results[1], OverflowError)
        assert results[2] is True
        assert await store.append_payload("known", incoming(3)) is True
        assert [pid for pid, _ in await stored_payloads(store, "known")] == [1, 2, 3]

    await using(SQLiteStore(tmp_path), scenario)


# -- idempotency and refusals ------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_retried_payload_is_stored_once(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        await project_with_session(store, "s")

        first = await store.append_payload("s", incoming(7, b"same content"))
        retry = await store.append_payload("s", incoming(7, b"same content"))

        assert (first, retry) == (True, False)
        assert await stored_payloads(store, "s") == [(7, b"same content")]

    await using(SQLiteStore(tmp_path), scenario)
    assert query(tmp_path, "SELECT count(*) FROM payloads") == [(1,)]


@pytest.mark.anyio
async def test_payloads_reusing_an_id_are_kept_and_come_back_ordered_by_id(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        await project_with_session(store, "s")
        for payload_id, content in [(30, b"c"), (10, b"a"), (20, b"b"), (10, b"a, again")]:
            assert await store.append_payload("s", incoming(payload_id, content)) is True

        assert await stored_payloads(store, "s") == [
            (10, b"a"),
            (10, b"a, again"),
            (20, b"b"),
            (30, b"c"),
        ]

    await using(SQLiteStore(tmp_path), scenario)


@pytest.mark.anyio
async def test_the_first_initialize_session_wins(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        await store.ensure_default_project()
        first = await store.initialize_session(new_session("s", environment="production"))
        reload = await store.initialize_session(new_session("s", environment="staging"))

        assert reload == first
        assert first.environment == "production"
        assert (await record_of(store, "s")).session == first

    await using(SQLiteStore(tmp_path), scenario)
    assert query(tmp_path, "SELECT secure_id, environment FROM sessions") == [("s", "production")]


@pytest.mark.anyio
async def test_a_secure_id_of_another_project_is_refused(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        await project_with_session(store, "s")
        other = await store.create_project("other")

        with pytest.raises(SessionOfAnotherProject):
            await store.initialize_session(new_session("s", project_id=other.id))

        assert (await record_of(store, "s")).session.project_id == 1

    await using(SQLiteStore(tmp_path), scenario)


@pytest.mark.anyio
async def test_a_session_of_an_unknown_project_is_refused(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        await store.ensure_default_project()

        with pytest.raises(UnknownProject):
            await store.initialize_session(new_session("s", project_id=99))

        assert await session_record(store, "s") is None

    await using(SQLiteStore(tmp_path), scenario)


def backend_error(session_secure_id: str, event: str = "boom") -> BackendErrorReport:
    return BackendErrorReport(
        event=event,
        type="Error",
        url="https://api.example/checkout",
        source="api",
        stack_trace='[{"fileName":"checkout.py","lineNumber":12}]',
        timestamp=1_700_000_000_000,
        session_secure_id=session_secure_id,
    )


@pytest.mark.anyio
async def test_backend_errors_are_all_or_nothing(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        await project_with_session(store, "s")
        errors = [backend_error("s"), backend_error("no-such-session", event="lost")]

        with pytest.raises(UnknownSession):
            await store.add_backend_errors(None, errors, at=1)

        assert await backend_errors(store, 1) == []

    await using(SQLiteStore(tmp_path), scenario)
    assert query(tmp_path, "SELECT count(*) FROM backend_errors") == [(0,)]


@pytest.mark.anyio
async def test_identical_backend_errors_are_stored_once(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        await project_with_session(store, "s")
        error = backend_error("s")

        assert await store.add_backend_errors(None, [error, error, error], at=1) == 1
        assert await store.add_backend_errors(1, [error], at=2) == 0
        assert await backend_errors(store, 1) == [error]

    await using(SQLiteStore(tmp_path), scenario)


@pytest.mark.anyio
async def test_metrics_are_all_or_nothing_and_stored_once(tmp_path: Path) -> None:
    metric = Metric("s", "fcp", 812.5, 1_700_000_000_000, tags=(("page", "/checkout"),))

    async def scenario(store: SQLiteStore) -> None:
        await project_with_session(store, "s")

        with pytest.raises(UnknownSession):
            await store.add_metrics([metric, Metric("no-such-session", "fcp", 1.0, 1)], at=1)
        assert (await record_of(store, "s")).metrics == []

        assert await store.add_metrics([metric, metric], at=2) == 1
        assert (await record_of(store, "s")).metrics == [metric]

    await using(SQLiteStore(tmp_path), scenario)


@pytest.mark.anyio
async def test_a_project_key_belongs_to_one_project(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        first = await store.create_project("first", ["shared"])

        with pytest.raises(StoreError, match="shared"):
            await store.create_project("second", ["fresh", "shared"])

        assert await store.list_projects() == [first]
        assert await store.project_for_key("shared") == first.id
        assert await store.project_for_key("fresh") is None

    await using(SQLiteStore(tmp_path), scenario)


@pytest.mark.anyio
async def test_the_default_project_is_created_on_an_empty_store_only(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        created = await store.ensure_default_project()

        assert created is not None
        assert (created.id, created.name) == (1, "default")
        assert await store.ensure_default_project() is None
        assert await store.list_projects() == [created]

    await using(SQLiteStore(tmp_path), scenario)


@pytest.mark.anyio
async def test_no_default_project_is_added_beside_an_existing_one(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        mine = await store.create_project("mine")

        assert await store.ensure_default_project() is None
        assert await store.list_projects() == [mine]

    await using(SQLiteStore(tmp_path), scenario)


# -- check_writable ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_check_writable_commits_on_a_healthy_store(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        await store.check_writable()

    await using(SQLiteStore(tmp_path), scenario)
    assert len(query(tmp_path, "SELECT at FROM heartbeat")) == 1


@pytest.mark.anyio
async def test_check_writable_reports_a_closed_store(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SQLiteStore(tmp_path)
        await store.open()
        await store.close()
        with pytest.raises(StoreUnavailable):
            await store.check_writable()

    await scenario()


# Why not chmod the data directory read-only: SQLite keeps its database and WAL files open,
# and permissions are only checked when a file is opened, so writes go on after a chmod for
# any user (and root ignores permissions anyway). A file size limit of 0 (RLIMIT_FSIZE) makes
# the kernel refuse every write() to a regular file with EFBIG, for root too: to SQLite that
# is the failed write a full disk gives. It is set inside a child process, after the store is
# open, and lifted again to show the store recovers; stdout is a pipe, which it does not cover.
PROBE_WHILE_WRITES_FAIL = """
import asyncio, resource, signal, sys
from pathlib import Path
from footlight.store import SQLiteStore
from footlight.errors import StoreUnavailable

async def probe(store, label):
    try:
        await store.check_writable()
        print(label, "writable", flush=True)
    except StoreUnavailable as exc:
        print(label, "unavailable:", exc, flush=True)

async def main():
    store = SQLiteStore(Path(sys.argv[1]))
    await store.open()
    await probe(store, "before")
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))
    await probe(store, "refused")
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    await probe(store, "after")
    await store.close()

asyncio.run(main())
"""


def test_check_writable_reports_a_disk_that_refuses_writes(tmp_path: Path) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE_WHILE_WRITES_FAIL, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert probe.returncode == 0, probe.stderr
    before, refused, after = probe.stdout.splitlines()
    assert before == "before writable"
    assert refused.startswith("refused unavailable: SQLite write failed"), refused
    assert after == "after writable"


@pytest.mark.anyio
async def test_a_claim_reads_only_the_due_jobs(tmp_path: Path) -> None:
    """SQLite's planner, without statistics, would take the queue's primary key for the kinds
    and sort every job queued (~0.6 ms with 4,000, at every claim); the claim reads the due
    ones through their index instead, and sorts nothing."""
    await using(SQLiteStore(tmp_path), nothing)  # the schema
    with contextlib.closing(sqlite3.connect(tmp_path / DB_FILE)) as raw:
        statement = claim_statement(SQLiteConnection(raw), 3)
        plan = " | ".join(
            str(step[3])
            for step in raw.execute(
                f"EXPLAIN QUERY PLAN {statement}", ("me", 2, 1, 1, "session", "live", "otlp", 1)
            )
        )
    assert "USING INDEX processing_due (due_at<?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


# -- checkpoints -------------------------------------------------------------------------------


def test_the_wal_starts_over_under_writes_that_never_pause(tmp_path: Path) -> None:
    """Commits back to back, a reader beside them: passive checkpoints alone copy the WAL but
    never let it start over (a copy ends after the next commit began), so it grew for as
    long as the writes lasted. The restarts keep it near `restart_bytes`."""
    turn = threading.Lock()
    checkpointer = Checkpointer(_wal_store(tmp_path), turn, interval=0.02, restart_bytes=MiB)
    with _steady_writes(tmp_path, checkpointer, turn) as load:
        load.until(lambda: load.written >= 64 * MiB)
    # Without restarts the WAL holds everything written. With them it holds what the
    # passes let through beyond the bound: at this pace (~60 MiB/s here, far above ingest's
    # 24) a pass whose restart found the reader still on old frames lets through tens.
    assert load.largest < load.written / 2, (load.largest, load.written, checkpointer.resets)
    assert checkpointer.resets >= 3


def test_a_reader_that_stays_is_not_waited_for_at_every_pass(tmp_path: Path) -> None:
    """A read transaction held open on old frames (an export reading for minutes): each reset
    gives up after `_BUSY_MS`, holding the writer meanwhile, so the tries thin out (1, 2, 4,
    ... passes apart); once the reader is gone the WAL starts over again."""
    path, turn = _wal_store(tmp_path), threading.Lock()
    checkpointer = Checkpointer(path, turn, interval=0.02, restart_bytes=MiB)
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as reader:
        with _steady_writes(tmp_path, checkpointer, turn) as load:
            load.until(lambda: load.written >= 2 * MiB)
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM blobs").fetchall()  # its snapshot is held
            load.until(lambda: False, seconds=1.0)
            # Trying at every pass (~50 in the second) would have given up ~50 times; 1, 2,
            # 4, 8, 16, 16 ... passes apart, about 7.
            assert 1 <= checkpointer.given_up <= 12, checkpointer.given_up
            reader.execute("COMMIT")
            restarted = checkpointer.resets
            load.until(lambda: checkpointer.resets > restarted, seconds=10)
        assert checkpointer.resets > restarted


def _wal_store(tmp_path: Path) -> Path:
    path = tmp_path / DB_FILE
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE blobs (body BLOB)")
    return path


class _SteadyWrites:
    """Commits back to back under the checkpointer's turn, as the store's writer makes them
    under ingest, with a reader beside them; `largest` is the WAL file's size at most."""

    def __init__(self, path: Path, turn: threading.Lock) -> None:
        self._path = path
        self._turn = turn
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._write), threading.Thread(target=self._read)]
        self.written = 0
        self.largest = 0

    def _write(self) -> None:
        with contextlib.closing(sqlite3.connect(self._path, isolation_level=None)) as conn:
            conn.execute("PRAGMA wal_autocheckpoint=0")  # as the store's writer
            while not self._stop.is_set():
                with self._turn:  # as `Writer` holds it for each batch
                    conn.execute("BEGIN IMMEDIATE")
                    conn.executemany("INSERT INTO blobs VALUES (?)", [(bytes(16384),)] * 8)
                    conn.execute("COMMIT")
                self.written += 8 * 16384

    def _read(self) -> None:
        with contextlib.closing(sqlite3.connect(self._path, isolation_level=None)) as conn:
            while not self._stop.is_set():
                conn.execute("SELECT max(rowid) FROM blobs").fetchall()

    def until(self, done: Callable[[], bool], seconds: float = 30.0) -> None:
        """Watch the WAL's size until `done()` or `seconds` have passed."""
        wal = Path(f"{self._path}-wal")
        deadline = time.monotonic() + seconds
        while not done() and time.monotonic() < deadline:
            time.sleep(0.005)
            self.largest = max(self.largest, wal.stat().st_size)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


@contextlib.contextmanager
def _steady_writes(
    tmp_path: Path, checkpointer: Checkpointer, turn: threading.Lock
) -> Iterator[_SteadyWrites]:
    load = _SteadyWrites(tmp_path / DB_FILE, turn)
    checkpointer.start()
    load.start()
    try:
        yield load
    finally:
        load.stop()
        checkpointer.stop()


@pytest.mark.anyio
async def test_the_writer_waits_for_its_turn_and_commits_once_given_it(tmp_path: Path) -> None:
    """What the checkpointer's restart holds: while the turn is taken no batch commits, and
    the write queued meanwhile commits once it is given back (a lock release wakes the
    writer; the bound is loose for a loaded machine)."""

    async def scenario(store: SQLiteStore) -> None:
        await store.ensure_default_project()
        engine = store.engine
        assert isinstance(engine, SQLiteEngine)
        turn = engine.writer_turn
        assert turn is not None
        with turn:
            write = asyncio.ensure_future(store.initialize_session(new_session("in-turn")))
            await asyncio.sleep(0.2)
            assert not write.done()
        released = time.monotonic()
        await write
        assert time.monotonic() - released < 2
        assert await record_of(store, "in-turn") is not None

    await using(SQLiteStore(tmp_path), scenario)
