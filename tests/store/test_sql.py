"""The SQL store on both engines (SQLite, and a fresh PostgreSQL database), through its API.

Proven here:

* input PostgreSQL cannot hold (a NUL in text, an integer beyond bigint) is refused like a
  constraint violation: that write fails alone with StoreError, the rest of its batch commits,
  and a read naming such a value is answered StoreError, never StoreUnavailable;
* a write refused after it wrote (more fields than a session may hold) is undone alone: in a
  batch, which then runs again with a savepoint per write, and alone in its batch;
* writes issued while the store closes are answered StoreUnavailable, none waits forever;
* after a batch of 8 writes (or of `commit_gather_from`) the next commit gathers writes
  for `commit_gather_seconds`; after a smaller one a write commits at once;
* opening a store does not stall the event loop while another process holds its file;
* user and URL search fold case the same way on both sides of LIKE, so a search written as
  stored always finds it (SQLite folds ASCII only, PostgreSQL more: that difference stays);
* on SQLite, the lookups of session deletion, OTLP retention and the error list use indexes;
* reads run on three lanes: ingest's lookups are answered while every operator connection
  (and the internal one) is busy; a statement of an operator read that runs past the read
  timeout is stopped (ReadTimeout) and the lane goes on serving, while the same statement on
  the internal lane (processing) runs to its end;
* a store of schema version 4 upgrades its API tokens to the read scope;
* several nodes on one PostgreSQL database: input stored while another node completes its
  job is processed again; one session initialized on two nodes at once is one session, both
  answered; nodes starting together add one default project.

The races are made deterministic by holding one node's write transaction open (`uncommitted`)
until the other node's write is seen waiting for its locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

from footlight import metrics
from footlight.api.auth import hash_token
from footlight.core.records import ConsoleMessage
from footlight.errors import (
    ReadTimeout,
    SessionFull,
    StoreError,
    StoreUnavailable,
    TooManyFields,
)
from footlight.store import IncomingPayload, NewSession, SessionField, SQLiteStore, SQLStore
from footlight.store.base import (
    Derived,
    JobKind,
    PageVisit,
    ProcessingTiming,
    SessionQuery,
    SessionSummary,
)
from footlight.store.postgres import PostgresStore
from footlight.store.sql.engine import Connection
from footlight.store.sqlite import DB_FILE
from tests.helpers.inspection import session_console, session_record
from tests.helpers.store import BACKENDS, fresh_database, push_of, recorded_statements, using

T = TypeVar("T")

postgres_only = pytest.mark.skipif(
    "postgresql" not in BACKENDS, reason="PostgreSQL is not among FOOTLIGHT_TEST_BACKENDS"
)


@pytest.fixture
def store_with_read_timeout(backend: str, tmp_path: Path) -> Callable[[float], SQLStore]:
    """Makes a store whose operator reads are stopped after the given seconds."""
    if backend == "sqlite":
        return lambda seconds: SQLiteStore(tmp_path, read_timeout=seconds)
    url = fresh_database()
    return lambda seconds: PostgresStore(url, read_timeout=seconds)


def new_session(secure_id: str, created_at: int = 1_700_000_000_000) -> NewSession:
    return NewSession(secure_id=secure_id, project_id=1, created_at=created_at)


@dataclass
class Hold:
    entered: threading.Event
    release: threading.Event
    done: asyncio.Future[None]


def hold_writer(store: SQLStore) -> Hold:
    """Queue a write that, once it runs, keeps the writer in its transaction until released."""
    entered, release = threading.Event(), threading.Event()

    def hold(_conn: Connection) -> None:
        entered.set()
        release.wait(30)

    return Hold(entered, release, store.engine.write(hold))


@contextlib.asynccontextmanager
async def writer_held(store: SQLStore) -> AsyncIterator[None]:
    """Keep the store's writer busy until the block ends: every write issued meanwhile is
    queued, and they then commit as one batch."""
    held = hold_writer(store)
    assert await asyncio.to_thread(held.entered.wait, 30)
    try:
        yield
    finally:
        held.release.set()
        await held.done


@contextlib.asynccontextmanager
async def uncommitted(store: SQLStore, *writes: Awaitable[T]) -> AsyncIterator[list[Any]]:
    """Run `writes` as one batch whose transaction stays open until the block ends: what they
    wrote is not yet visible to others, and they hold their locks."""
    async with writer_held(store):
        tasks = await queued(*writes)
        last = hold_writer(store)  # the batch's last job: it keeps the batch from committing
    assert await asyncio.to_thread(last.entered.wait, 30)
    try:
        yield tasks
    finally:
        last.release.set()
        await last.done


def until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


async def queued(*writes: Awaitable[T]) -> list[asyncio.Task[T]]:
    tasks = [asyncio.ensure_future(write) for write in writes]
    await asyncio.sleep(0)  # each task runs up to its await: its job is queued
    return tasks


# -- input PostgreSQL cannot hold ----------------------------------------------------------------


@postgres_only
@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(new_session("nul\x00in-the-middle"), id="nul"),
        pytest.param(new_session("beyond-bigint", created_at=2**70), id="out-of-range"),
    ],
)
@pytest.mark.anyio
async def test_a_value_postgres_cannot_hold_is_refused_alone_in_its_batch(bad: NewSession) -> None:
    async def scenario(store: SQLStore) -> None:
        await store.ensure_default_project()
        async with writer_held(store):
            before, refused, after = await queued(
                store.initialize_session(new_session("before")),
                store.initialize_session(bad),
                store.initialize_session(new_session("after")),
            )

        results = await asyncio.gather(before, refused, after, return_exceptions=True)

        assert isinstance(results[1], StoreError), results
        assert [getattr(r, "secure_id", r) for r in (results[0], results[2])] == [
            "before",
            "after",
        ]
        assert await session_record(store, "before") is not None
        assert await session_record(store, "after") is not None
        # The writer kept its connection and goes on committing.
        assert (await store.initialize_session(new_session("later"))).secure_id == "later"

    await using(PostgresStore(fresh_database()), scenario)


@postgres_only
@pytest.mark.anyio
async def test_a_read_naming_a_value_postgres_cannot_hold_is_refused_not_unavailable() -> None:
    async def scenario(store: SQLStore) -> None:
        with pytest.raises(StoreError):
            await store.project_for_key("key\x00")
        with pytest.raises(StoreError):
            await store.list_sessions(SessionQuery(user="ada\x00"))
        assert await store.project_for_key("key") is None

    await using(PostgresStore(fresh_database()), scenario)


# -- a write refused after it wrote ----------------------------------------------------------------


def replays() -> float:
    return metrics.REGISTRY.get_sample_value("footlight_store_commit_replays_total") or 0.0


def fields(*keys: str) -> list[SessionField]:
    return [SessionField("session", key, "v") for key in keys]


async def stored_fields(store: SQLStore, secure_id: str) -> list[str]:
    record = await session_record(store, secure_id)
    assert record is not None
    return sorted(f.key for f in record.fields)


@pytest.mark.anyio
async def test_a_write_refused_after_it_wrote_is_undone_alone_in_its_batch(
    new_store: Callable[[], SQLStore],
) -> None:
    """The batch runs without savepoints first: the refusal (TooManyFields is raised after
    the fields were inserted) rolls it back, and its second run undoes only that write."""

    async def scenario(store: SQLStore) -> None:
        await store.ensure_default_project()
        for secure_id in ("a", "b", "c"):
            await store.initialize_session(new_session(secure_id))
        await store.add_fields("b", fields("kept"), at=1, max_fields=2)
        replayed = replays()
        async with writer_held(store):
            writes = await queued(
                store.add_fields("a", fields("a1", "a2"), at=2, max_fields=2),
                store.add_fields("b", fields("b1", "b2"), at=2, max_fields=2),
                store.add_fields("c", fields("c1"), at=2, max_fields=2),
            )

        results = await asyncio.gather(*writes, return_exceptions=True)

        assert results[0] is None, results
        assert results[2] is None, results
        assert isinstance(results[1], TooManyFields), results
        assert await stored_fields(store, "a") == ["a1", "a2"]
        assert await stored_fields(store, "b") == ["kept"]
        assert await stored_fields(store, "c") == ["c1"]
        assert replays() == replayed + 1

    await using(new_store(), scenario)


@pytest.mark.anyio
async def test_a_write_refused_after_it_wrote_alone_in_its_batch_leaves_nothing(
    new_store: Callable[[], SQLStore],
) -> None:
    async def scenario(store: SQLStore) -> None:
        await store.ensure_default_project()
        await store.initialize_session(new_session("b"))
        replayed = replays()

        with pytest.raises(TooManyFields):
            await store.add_fields("b", fields("b1", "b2", "b3"), at=2, max_fields=2)

        assert await stored_fields(store, "b") == []
        assert replays() == replayed  # a batch of one is undone by its rollback
        await store.add_fields("b", fields("b1"), at=3, max_fields=2)
        assert await stored_fields(store, "b") == ["b1"]

    await using(new_store(), scenario)


# -- pushes committed together ---------------------------------------------------------------------


def drawn_push(draw: random.Random, payload_id: int) -> IncomingPayload:
    content = bytes(draw.randrange(97, 100) for _ in range(draw.choice([200, 600, 900])))
    return push_of(payload_id, content, compresslevel=0)


async def stored_state(store: SQLStore) -> dict[str, Any]:
    def read(conn: Connection) -> dict[str, Any]:
        return {
            "payloads": sorted(
                (r[0], r[1], bytes(r[2]))
                for r in conn.execute(
                    "SELECT s.secure_id, p.payload_id, p.digest FROM payloads p"
                    " JOIN sessions s ON s.id = p.session_id"
                )
            ),
            "sizes": sorted(
                (r[0], r[1])
                for r in conn.execute(
                    "SELECT s.secure_id, z.stored_bytes FROM session_sizes z"
                    " JOIN sessions s ON s.id = z.session_id"
                )
            ),
            "queued": sorted(
                (r[0], r[1])
                for r in conn.execute(
                    "SELECT q.kind, s.secure_id FROM processing_queue q"
                    " JOIN sessions s ON s.id = q.key"
                )
            ),
        }

    return await store.engine.read(read)


def outcome(result: Any) -> Any:
    return (type(result).__name__, str(result)) if isinstance(result, Exception) else result


@pytest.mark.anyio
async def test_a_push_the_check_missed_is_found_stored_by_its_insert(
    new_store: Callable[..., SQLStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the check of which pushes are stored misses one (on PostgreSQL, another node
    stored it meanwhile), the insert finds it: it is answered as a retry, stored once and
    counted once, and the new push beside it in the batch is stored. (On SQLite, where the
    insert returns no rows, fewer rows changed than inserted makes the batch run again, each
    push alone.)"""

    async def scenario(store: SQLStore) -> None:
        await store.ensure_default_project()
        await store.initialize_session(new_session("s1"))
        first = drawn_push(random.Random(1), 1)
        assert await store.append_payload("s1", first) is True
        monkeypatch.setattr(SQLStore, "_stored_payload_keys", staticmethod(lambda *_: set()))
        async with writer_held(store):
            tasks = await queued(
                store.append_payload("s1", first),
                store.append_payload("s1", drawn_push(random.Random(2), 2)),
            )
        assert await asyncio.gather(*tasks) == [False, True]
        state = await stored_state(store)
        assert [(secure_id, payload_id) for secure_id, payload_id, _ in state["payloads"]] == [
            ("s1", 1),
            ("s1", 2),
        ]
        stored_bytes = sum(len(p.body) for p in (first, drawn_push(random.Random(2), 2)))
        assert state["sizes"] == [("s1", stored_bytes)]

    await using(new_store(), scenario)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.anyio
async def test_pushes_committed_together_end_as_they_do_one_after_the_other(
    backend: str, tmp_path: Path, seed: int
) -> None:
    """A batch's pushes run together (one multi-row insert): new ones, retries of stored
    ones and of each other, payload ids reused with other content, sessions filling up past
    their cap, an unknown session. Each gets the answer it gets when the same pushes are
    stored one at a time, and the stores end the same: payloads, sizes and queued jobs."""
    draw = random.Random(seed)
    secure_ids = ["s1", "s2", "s3"]
    limit = 4_000
    earlier = [(draw.choice(secure_ids), drawn_push(draw, n)) for n in range(4)]
    pushes = [
        (
            draw.choice([*secure_ids, "unknown"]),
            draw.choice(earlier)[1] if draw.random() < 0.2 else drawn_push(draw, draw.randrange(8)),
        )
        for _ in range(30)
    ]
    pushes += pushes[:3]  # copies of pushes in the same batch

    async def fill(store: SQLStore) -> None:
        await store.ensure_default_project()
        for secure_id in secure_ids:
            await store.initialize_session(new_session(secure_id))
        for secure_id, push in earlier:
            await store.append_payload(secure_id, push, limit)

    async def together(store: SQLStore) -> tuple[list[Any], dict[str, Any]]:
        await fill(store)
        replayed = replays()
        async with writer_held(store):
            tasks = await queued(*(store.append_payload(s, p, limit) for s, p in pushes))
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert replays() == replayed, "the batch ran again: the pushes did not run together"
        return [outcome(r) for r in results], await stored_state(store)

    async def one_by_one(store: SQLStore) -> tuple[list[Any], dict[str, Any]]:
        await fill(store)
        results: list[Any] = []
        for secure_id, push in pushes:
            try:
                results.append(await store.append_payload(secure_id, push, limit))
            except Exception as exc:
                results.append(exc)
        return [outcome(r) for r in results], await stored_state(store)

    def store_at(name: str) -> SQLStore:
        if backend == "sqlite":
            return SQLiteStore(tmp_path / name)
        return PostgresStore(fresh_database())

    expected = await using(store_at("one-by-one"), one_by_one)
    got = await using(store_at("together"), together)

    assert got[0] == expected[0]
    assert got[1] == expected[1]
    assert any(isinstance(r, tuple) and r[0] == "SessionFull" for r in expected[0])
    assert False in expected[0]
    assert True in expected[0]


def commits() -> float:
    return metrics.REGISTRY.get_sample_value("footlight_store_commit_writes_count") or 0.0


async def batch_of(store: SQLStore, writes: int) -> None:
    """`writes` initializeSessions, committed as one batch."""
    async with writer_held(store):
        tasks = await queued(
            *(store.initialize_session(new_session(f"s{n}")) for n in range(writes))
        )
    await asyncio.gather(*tasks)


async def two_writes_apart(store: SQLStore) -> float:
    """Two initializeSessions issued 0.2 s apart; the group commits they took."""
    before = commits()
    first = asyncio.ensure_future(store.initialize_session(new_session("first")))
    await asyncio.sleep(0.2)
    second = asyncio.ensure_future(store.initialize_session(new_session("second")))
    await asyncio.gather(first, second)
    return commits() - before


@pytest.mark.anyio
async def test_after_a_large_batch_the_next_commit_gathers_writes(
    new_store: Callable[..., SQLStore],
) -> None:
    """With a gather time, the batch after one of 8 writes or more waits that long from its
    first write: two writes issued 0.2 s apart share one COMMIT. After that small batch, a
    write commits at once."""
    gather = 0.6

    async def scenario(store: SQLStore) -> None:
        await store.ensure_default_project()
        await batch_of(store, 9)

        started = time.monotonic()
        assert await two_writes_apart(store) == 1, "the two writes were not committed together"
        assert time.monotonic() - started >= gather

        before, started = commits(), time.monotonic()
        await store.initialize_session(new_session("alone"))
        assert time.monotonic() - started < gather / 2, "a write after a small batch waited"
        assert commits() - before == 1

    await using(new_store(commit_gather_seconds=gather), scenario)


@pytest.mark.anyio
@pytest.mark.parametrize(("gather_from", "commits_of_two"), [(2, 1), (8, 2)])
async def test_commit_gather_from_is_the_batch_that_counts_as_load(
    new_store: Callable[..., SQLStore], gather_from: int, commits_of_two: int
) -> None:
    """After a batch of two writes, two writes issued 0.2 s apart share one COMMIT when
    `commit_gather_from` is 2 (the next commit gathered), and are committed one by one with
    the default 8. After a lone write, the next commits at once either way."""
    gather = 0.6

    async def scenario(store: SQLStore) -> None:
        await store.ensure_default_project()
        await batch_of(store, 2)
        assert await two_writes_apart(store) == commits_of_two

        await store.initialize_session(new_session("alone"))  # its commit holds it alone
        started = time.monotonic()
        await store.initialize_session(new_session("after"))
        assert time.monotonic() - started < gather / 2, "a write after a lone write waited"

    await using(new_store(commit_gather_seconds=gather, commit_gather_from=gather_from), scenario)


@pytest.mark.anyio
async def test_a_batch_wakes_its_callers_loop_once(
    new_store: Callable[..., SQLStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twelve writes committed together are answered with one wake-up of the event loop
    (each is a system call on the writer's side and a turn of the loop on its own), and
    every caller hears its own outcome."""

    async def scenario(store: SQLStore) -> None:
        await store.ensure_default_project()
        loop = asyncio.get_running_loop()
        wake_ups: list[object] = []
        wake = loop.call_soon_threadsafe

        def counted(callback: Callable[..., object], *args: Any, **kwargs: Any) -> Any:
            wake_ups.append(callback)
            return wake(callback, *args, **kwargs)

        monkeypatch.setattr(loop, "call_soon_threadsafe", counted)
        async with writer_held(store):
            tasks = await queued(
                *(store.initialize_session(new_session(f"w{n}")) for n in range(12))
            )
        wake_ups.clear()
        sessions = await asyncio.gather(*tasks)
        assert [session.secure_id for session in sessions] == [f"w{n}" for n in range(12)]
        assert len(wake_ups) == 1, wake_ups

    await using(new_store(), scenario)


@pytest.mark.anyio
async def test_batches_of_every_size_take_few_statement_shapes(
    new_store: Callable[[], SQLStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pushes in batches of 1 to 40 (each pushing to as many sessions): each batch statement
    (the reads, the insert, the size update, the queue's upserts) comes in at most seven
    texts, not one per batch size, so that the engine keeps them prepared (store.sql.shapes)."""
    statements = recorded_statements(monkeypatch)
    largest = 40

    async def scenario(store: SQLStore) -> None:
        await store.ensure_default_project()
        for n in range(largest):
            await store.initialize_session(new_session(f"s{n}"))
        statements.clear()
        for size in range(1, largest + 1):
            async with writer_held(store):
                tasks = await queued(
                    *(
                        store.append_payload(
                            f"s{n}", push_of(size, f"{size:03}-{n:03}".encode() * 6)
                        )
                        for n in range(size)
                    )
                )
            assert all(await asyncio.gather(*tasks))

    await using(new_store(), scenario)
    # A statement is known by its words: its texts for other batch sizes repeat the same.
    by_words: dict[str, set[str]] = {}
    for text, _ in statements:
        by_words.setdefault(" ".join(sorted(set(re.findall(r"[\w.]+", text)))), set()).add(text)
    assert sum(len(found) for found in by_words.values()) > 3 * 6, "the batches ran no statements"
    assert {words: len(found) for words, found in by_words.items() if len(found) > 7} == {}


@pytest.mark.anyio
async def test_a_session_without_its_size_counted_is_counted_before_its_next_push(
    new_store: Callable[[], SQLStore],
) -> None:
    """A session written without initializeSession has no size row: its next push counts
    what it stores first, so the cap holds for it too."""

    async def scenario(store: SQLStore) -> None:
        await store.ensure_default_project()
        await store.initialize_session(new_session("old"))
        first = payload(1)
        assert await store.append_payload("old", first, 10_000) is True
        await store.engine.write(lambda conn: conn.execute("DELETE FROM session_sizes"))
        cap = 2 * len(first.body) - 1

        with pytest.raises(SessionFull) as refused:
            await store.append_payload("old", payload(2), cap)

        assert refused.value.stored_bytes == len(first.body)
        assert await store.append_payload("old", payload(2), 10_000) is True
        assert (await stored_state(store))["sizes"] == [("old", len(first.body) * 2)]

    await using(new_store(), scenario)


# -- closing ---------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_writes_issued_while_the_store_closes_are_answered_and_none_hangs(
    new_store: Callable[[], SQLStore],
) -> None:
    async def scenario() -> list[Any]:
        store = new_store()
        await store.open()
        await store.ensure_default_project()
        writer = store.engine._writer  # type: ignore[attr-defined]
        async with writer_held(store):
            closing = asyncio.ensure_future(store.close())
            # close() has asked the writer to stop once its stop mark is queued; writes
            # issued from then on are queued behind it.
            await asyncio.to_thread(until, lambda: writer._queue.qsize() > 0)
            late = await queued(
                *(store.initialize_session(new_session(f"late-{n}")) for n in range(3))
            )
        await closing
        return await asyncio.wait_for(asyncio.gather(*late, return_exceptions=True), 10)

    results = await scenario()

    assert [type(r) for r in results] == [StoreUnavailable] * 3, results
    assert all("closed" in str(r) for r in results)


@pytest.mark.anyio
async def test_opening_does_not_stall_the_event_loop_while_another_process_locks_the_file(
    tmp_path: Path,
) -> None:
    # A fresh file locked elsewhere: turning it into WAL waits (the store retries for up to
    # 10 s) until the lock is released.
    with contextlib.closing(
        sqlite3.connect(tmp_path / DB_FILE, isolation_level=None, check_same_thread=False)
    ) as locker:
        locker.execute("BEGIN EXCLUSIVE")
        locker.execute("CREATE TABLE placeholder (x)")
        release = threading.Timer(0.5, locker.execute, ("COMMIT",))

        async def scenario() -> int:
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0.01)

            ticker = asyncio.ensure_future(tick())
            await asyncio.sleep(0)
            store = SQLiteStore(tmp_path)
            release.start()
            await store.open()
            await store.close()
            ticker.cancel()
            return ticks

        ticks = await scenario()
        release.join()

    assert ticks >= 10, f"the event loop ran {ticks} times in the 0.5 s the open waited"


# -- search --------------------------------------------------------------------------------------


def summary(landing_page: str) -> SessionSummary:
    return SessionSummary(
        started_at=None,
        ended_at=None,
        length_ms=0,
        active_ms=0,
        pages_visited=1,
        click_count=0,
        rage_click_count=0,
        event_count=0,
        payload_count=0,
        error_count=0,
        console_count=0,
        network_count=0,
        browser_name=None,
        browser_version=None,
        os_name=None,
        os_version=None,
        device_type=None,
        language=None,
        landing_page=landing_page,
        exit_page=landing_page,
    )


@pytest.mark.parametrize(
    ("search", "found"),
    [
        ("Émile", True),
        ("zola", True),
        ("ZOLA", True),
        ("100%", True),
        ("100_", False),  # LIKE's wildcards are searched as text, not as patterns
    ],
)
@pytest.mark.anyio
async def test_user_and_url_search_find_what_is_typed_as_stored(
    new_store: Callable[[], SQLStore], search: str, found: bool
) -> None:
    url = "https://shop.example/Émile-Zola/100%"

    async def scenario(store: SQLStore) -> tuple[list[str], list[str]]:
        await store.ensure_default_project()
        session = await store.initialize_session(new_session("s"))
        await store.identify("s", "Émile Zola 100%", None, [SessionField("user", "x", "y")], 1)
        job = (await store.claim_jobs("me", 2**40, 60_000, 1))[0]
        await store.complete_job(
            job,
            "me",
            Derived(
                job.origin,
                session_id=session.id,
                summary=summary(url),
                pages=[PageVisit(1, url)],
            ),
        )
        by_user = await store.list_sessions(SessionQuery(user=search))
        by_url = await store.list_sessions(SessionQuery(url_contains=search))
        return [v.secure_id for v in by_user], [v.secure_id for v in by_url]

    expected = ["s"] if found else []
    by_user, by_url = await using(new_store(), scenario)
    assert (by_user, by_url) == (expected, expected)


# -- indexes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "index"),
    [
        # delete_session_rows, and the foreign key check when a session row goes
        ("SELECT id FROM backend_errors WHERE session_id = ?", "backend_errors_by_session"),
        # purge_expired's OTLP pass
        ("SELECT id FROM otlp_batches WHERE received_at < ? LIMIT 100", "otlp_batches_by_received"),
        # errors() of one project, newest first
        (
            "SELECT * FROM errors WHERE project_id IN (?) ORDER BY id DESC LIMIT 50",
            "errors_by_project_id",
        ),
    ],
)
@pytest.mark.anyio
async def test_sqlite_reads_these_through_an_index(tmp_path: Path, sql: str, index: str) -> None:
    async def nothing(_store: SQLStore) -> None:
        pass

    await using(SQLiteStore(tmp_path), nothing)
    with contextlib.closing(sqlite3.connect(tmp_path / DB_FILE)) as db:
        plan = " | ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", (1,)))

    assert f"USING INDEX {index}" in plan or f"USING COVERING INDEX {index}" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


# -- several nodes on one PostgreSQL database ----------------------------------------------------


def lock_waiters(url: str) -> int:
    """How many connections to this database wait for a lock another transaction holds."""
    with psycopg.connect(url, autocommit=True) as db:
        row = db.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
        return int(row[0]) if row else 0


async def two_nodes(scenario: Callable[[str, SQLStore, SQLStore], Awaitable[None]]) -> None:
    """Run `scenario` with two stores (nodes) open on one fresh database (its URL)."""
    url = fresh_database()
    # The finished session's jobs alone (the races here are theirs): no live jobs.
    timing = ProcessingTiming(live_delay_ms=None)
    a, b = PostgresStore(url, timing), PostgresStore(url, timing)
    await a.open()
    await b.open()
    try:
        await scenario(url, a, b)
    finally:
        await a.close()
        await b.close()


def payload(payload_id: int) -> IncomingPayload:
    return push_of(payload_id, f'{{"payload":{payload_id}}}'.encode())


@postgres_only
@pytest.mark.anyio
async def test_input_arriving_while_its_job_completes_on_another_node_is_processed_again() -> None:
    """A push queues its session at the end of its group commit (store.sql.queueing). Either
    it is stored and queued while node A completes the job, and queueing waits for A's lock
    on the job, then queues it anew; or A completes while the push is stored but not yet
    queued, and the push's commit queues it anew. Either way the job is there for payload 2."""

    async def scenario(url: str, a: SQLStore, b: SQLStore) -> None:
        await a.ensure_default_project()
        await a.initialize_session(new_session("s"))
        await a.append_payload("s", payload(1))
        [job] = await a.claim_jobs("node-a", 2**50, 60_000, 1)

        writer = a.engine._writer  # type: ignore[attr-defined]
        async with writer_held(a):
            # complete_job prepares its rows on a thread before it queues its write.
            done = asyncio.ensure_future(a.complete_job(job, "node-a", Derived(job.origin)))
            await asyncio.to_thread(until, lambda: writer._queue.qsize() > 0)
            last = hold_writer(a)  # after it in the batch: A holds the job's lock until released
        assert await asyncio.to_thread(last.entered.wait, 30)
        appending = asyncio.ensure_future(b.append_payload("s", payload(2)))
        await asyncio.to_thread(until, lambda: lock_waiters(url) > 0)
        last.release.set()
        await last.done

        assert await done is True
        assert await appending is True
        assert await a.queued_jobs() == 1, "the job was deleted with payload 2 unprocessed"
        [again] = await a.claim_jobs("node-a", 2**50, 60_000, 1)

        async with uncommitted(b, b.append_payload("s", payload(3))) as [appended]:
            assert await a.complete_job(again, "node-a", Derived(again.origin)) is True

        assert await appended is True
        assert await a.queued_jobs() == 1, "the job was deleted with payload 3 unprocessed"

    await two_nodes(scenario)


@postgres_only
@pytest.mark.anyio
async def test_the_same_session_initialized_on_two_nodes_at_once_is_one_session() -> None:
    async def scenario(url: str, a: SQLStore, b: SQLStore) -> None:
        await a.ensure_default_project()

        async with uncommitted(b, b.initialize_session(new_session("s"))) as [on_b]:
            on_a = asyncio.ensure_future(a.initialize_session(new_session("s", created_at=2)))
            await asyncio.to_thread(until, lambda: lock_waiters(url) > 0)

        first, reload = await on_b, await on_a
        assert reload == first
        assert first.created_at == 1_700_000_000_000

    await two_nodes(scenario)


@postgres_only
@pytest.mark.anyio
async def test_nodes_starting_together_add_one_default_project() -> None:
    async def scenario(url: str, a: SQLStore, b: SQLStore) -> None:
        async with uncommitted(b, b.ensure_default_project()) as [on_b]:
            on_a = asyncio.ensure_future(a.ensure_default_project())
            # Either a waits for b (one default project), or a adds one beside b's.
            await asyncio.to_thread(until, lambda: on_a.done() or lock_waiters(url) > 0)

        created = [await on_b, await on_a]
        assert [p.name for p in await a.list_projects()] == ["default"]
        assert created[0] is not None
        assert created[1] is None

    await two_nodes(scenario)


# -- read lanes ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_ingest_lookups_are_answered_while_every_other_reader_is_busy(
    new_store: Callable[[], SQLStore],
) -> None:
    async def scenario(store: SQLStore) -> None:
        await store.ensure_default_project()
        await store.initialize_session(new_session("busy-readers"))
        release = threading.Event()
        entered = threading.Semaphore(0)

        def hold(_conn: Connection) -> None:
            entered.release()
            release.wait(30)

        # Two more operator reads than it has connections, and the internal lane.
        held = [store.engine.read(hold, "operator") for _ in range(4)]
        held.append(store.engine.read(hold, "internal"))
        tasks = [asyncio.ensure_future(h) for h in held]
        for _ in range(3):  # both operator connections and the internal one are taken
            assert await asyncio.to_thread(entered.acquire, True, 30)
        try:
            # Were these queued behind the held reads, they would wait until `release`.
            assert await asyncio.wait_for(store.project_for_key("no-such-key"), 20) is None
            session = await store.initialize_session(new_session("busy-readers"))
            found = await asyncio.wait_for(store.secure_id_for(session.id), 20)
            assert found == "busy-readers"
        finally:
            release.set()
            await asyncio.gather(*tasks)

    await using(new_store(), scenario)


_SLOW_COUNT = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000)"
    " SELECT count(*) FROM n"
)


@pytest.mark.anyio
async def test_an_operator_statement_past_the_read_timeout_is_stopped_and_the_lane_goes_on(
    store_with_read_timeout: Callable[[float], SQLStore],
) -> None:
    def slow(conn: Connection) -> int:
        return int(conn.execute(_SLOW_COUNT).fetchone()[0])

    async def scenario(store: SQLStore) -> None:
        await store.ensure_default_project()
        for _ in range(3):  # on either connection of the lane, again and again
            with pytest.raises(ReadTimeout, match="read_timeout_seconds"):
                await store.engine.read(slow, "operator")
            assert [p.name for p in await store.list_projects()] == ["default"]
        # Processing's reads are not limited: the same statement runs to its end there.
        assert await store.engine.read(slow, "internal") == 3_000_000

    await using(store_with_read_timeout(0.2), scenario)


@pytest.mark.anyio
async def test_tokens_of_a_store_made_before_scopes_become_read_tokens(
    new_store: Callable[[], SQLStore],
) -> None:
    store = new_store()
    if isinstance(store, SQLiteStore):
        from footlight.store.sqlite.engine import _connect_raw, _run_script
        from footlight.store.sqlite.engine import migrations as sqlite_migrations

        raw = _connect_raw(store.path)
        for version, name, sql in sqlite_migrations()[:4]:
            _run_script(raw, sql)
            if version == 1:
                raw.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                    " name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
                )
            raw.execute("INSERT INTO schema_migrations VALUES (?, ?, 0)", (version, name))
        raw.execute(
            "INSERT INTO api_tokens (token_hash, name, created_at) VALUES (?, 'old', 0)",
            (hash_token("flt_old"),),
        )
        raw.close()
    else:
        from footlight.store.postgres.engine import migrations as postgres_migrations

        assert isinstance(store, PostgresStore)
        with psycopg.connect(store.url, autocommit=True) as pg:
            pg.execute(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
                " name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
            )
            for version, name, sql in postgres_migrations()[:4]:
                pg.execute(sql.encode())
                pg.execute("INSERT INTO schema_migrations VALUES (%s, %s, 0)", (version, name))
            pg.execute(
                "INSERT INTO api_tokens (token_hash, name, created_at) VALUES (%s, 'old', 0)",
                (hash_token("flt_old"),),
            )

    async def scenario(opened: SQLStore) -> None:
        found = await opened.token_by_hash(hash_token("flt_old"))
        assert found is not None
        assert (found.name, found.scope) == ("old", "read")

    await using(store, scenario)


# -- live sessions ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_live_run_that_finds_the_session_processed_meanwhile_writes_nothing(
    new_store: Callable[[], SQLStore],
) -> None:
    """A live run read the session, then the finished session's run completed (moving the
    live cursor): the live run's rows would double the finished ones, so none is written, and
    its job is due again to go on from the new cursor."""
    store = new_store()
    await store.open()
    try:
        await store.ensure_default_project()
        session = await store.initialize_session(new_session("live"))
        await store.append_payload("live", payload(1))
        jobs = {job.kind: job for job in await store.claim_jobs("node", 2**50, 60_000, 10)}
        assert set(jobs) == {"session", "live"}
        [stored] = await store.session_payloads(session.id, None, 1 << 20)
        read_all = (stored.payload_id, stored.seq)
        line = ConsoleMessage(timestamp=1, level="log", message="derived")

        def derived(origin: str) -> Derived:
            return Derived(origin, console=[("live", line)], through=read_all)

        assert await store.complete_job(jobs["session"], "node", derived("session:1"))
        assert not await store.append_live(jobs["live"], "node", derived("live:1"), None)

        assert await store.live_cursor(session.id) == read_all
        assert [m.message for m in await session_console(store, "live")] == ["derived"]
        [queued] = await store.claim_jobs("node", 2**50, 60_000, 10)
        assert (queued.kind, queued.key) == ("live", session.id)
    finally:
        await store.close()


@pytest.mark.anyio
async def test_claims_take_due_jobs_in_due_order_past_leased_ones(
    new_store: Callable[[], SQLStore],
) -> None:
    """Through the due-time index (SQLite is told to use it: `Connection.by_due`), a claim
    still takes the due jobs of its kinds that were due first, past the ones leased,
    quarantined, of other kinds or not yet due."""
    store = new_store()
    await store.open()
    try:
        # kind, key, due at, leased until, quarantined at
        rows = [
            ("live", 1, 500, 5_000, None),  # leased by another until after now
            ("session", 2, 100, None, 10**15),  # quarantined
            ("assets", 3, 50, None, None),  # a kind not claimed here
            ("live", 4, 900, None, None),
            ("session", 5, 300, None, None),
            ("otlp", 6, 2_000, None, None),  # not due
            ("live", 7, 200, None, None),
        ]

        def queue(conn: Connection) -> None:
            for kind, key, due, leased_until, quarantined in rows:
                conn.execute(
                    "INSERT INTO processing_queue (kind, key, version, first_enqueued_at,"
                    " due_at, lease_owner, lease_until, quarantined_at)"
                    " VALUES (?, ?, 1, 0, ?, ?, ?, ?)",
                    (kind, key, due, leased_until and "other", leased_until, quarantined),
                )

        await store.engine.write(queue)
        kinds: tuple[JobKind, ...] = ("session", "live", "otlp")
        first = await store.claim_jobs("me", 1_000, 60_000, 2, kinds)
        # The two due first (in no particular order: as the UPDATE met them).
        assert {(job.kind, job.key) for job in first} == {("live", 7), ("session", 5)}
        rest = await store.claim_jobs("me", 1_000, 60_000, 10, kinds)
        assert [(job.kind, job.key) for job in rest] == [("live", 4)]
        assert await store.claim_jobs("me", 1_000, 60_000, 10, kinds) == []
    finally:
        await store.close()
