"""The processing loop on a real store (both engines): a job is leased only for its own run,
so the jobs waiting behind it stay free for other processes; every derivation runs off the
event loop."""

from __future__ import annotations

import asyncio
import base64
import gzip
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import msgspec
import pytest

from footlight.core.clock import now_ms
from footlight.core.payload import decode_compressed
from footlight.processing.derive import derive_backend_error
from footlight.processing.session import SessionDeriver
from footlight.processing.worker import Processor, _Run
from footlight.store import SQLiteStore, SQLStore
from footlight.store.base import (
    BackendErrorInput,
    BackendErrorReport,
    Derived,
    IncomingPayload,
    Job,
    NewSession,
    ProcessingTiming,
    SessionView,
    StoredPayload,
)
from footlight.store.postgres import PostgresStore
from footlight.store.sql.engine import Connection
from tests.helpers.store import fresh_database

T = TypeVar("T")
LONG_AGO = 1_700_000_000_000  # jobs queued then are due now


def run(store: SQLStore, scenario: Callable[[SQLStore], Awaitable[T]]) -> T:
    async def main() -> T:
        await store.open()
        try:
            await store.ensure_default_project()
            return await scenario(store)
        finally:
            await store.close()

    return asyncio.run(main())


@pytest.fixture
def store(backend: str, tmp_path: Path) -> SQLStore:
    # The finished session's job alone: no live jobs (tests/processing/test_live.py has them).
    timing = ProcessingTiming(live_delay_ms=None)
    if backend == "sqlite":
        return SQLiteStore(tmp_path, timing)
    return PostgresStore(fresh_database(), timing)


def _error(message: str) -> BackendErrorReport:
    return BackendErrorReport(message, "TypeError", "", "api", "at handler (api.js:1:2)", LONG_AGO)


class _Watched(Processor):
    """Records how many due jobs another process could claim while each job is derived."""

    def __init__(self, store: SQLStore) -> None:
        super().__init__(store, max_inflated_bytes=1 << 20)
        self.claimable: list[int] = []

    async def _derive(self, job: Job) -> Derived | None:
        # Claimed and then given back at once, so that this run still finds them.
        others = await self.store.claim_jobs("other", now_ms(), 1, 100)
        self.claimable.append(len(others))
        await asyncio.sleep(0.01)  # the other lease (1 ms) has run out
        return await super()._derive(job)


def test_jobs_waiting_their_turn_are_not_leased(store: SQLStore) -> None:
    async def scenario(store: SQLStore) -> tuple[int, list[int], int]:
        await store.add_backend_errors(1, [_error(f"e{i}") for i in range(3)], LONG_AGO)
        processor = _Watched(store)
        done = await processor.drain()
        return done, processor.claimable, await store.queued_jobs()

    done, claimable, left = run(store, scenario)
    assert (done, left) == (3, 0)
    # Claiming several at once held the two behind the first for its whole run.
    assert claimable == [2, 1, 0]


def test_backend_errors_are_derived_off_the_event_loop(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[int] = []

    def watched(item: BackendErrorInput, origin: str) -> Derived:
        threads.append(threading.get_ident())
        return derive_backend_error(item, origin)

    monkeypatch.setattr("footlight.processing.worker.derive_backend_error", watched)

    async def scenario(store: SQLStore) -> tuple[int, int]:
        await store.add_backend_errors(1, [_error("boom")], LONG_AGO)
        done = await Processor(store, max_inflated_bytes=1 << 20).drain()
        stored = await store.errors(None, limit=10)
        assert [e.error.message for e in stored] == ["boom"]
        return done, threading.get_ident()

    done, loop_thread = run(store, scenario)
    assert done == 1
    assert threads
    assert loop_thread not in threads


def _session_with_payloads(store: SQLStore, count: int) -> Awaitable[int]:
    async def build() -> int:
        session = await store.initialize_session(NewSession("lease-test", 1, LONG_AGO))
        for i in range(count):
            body = msgspec.json.encode(
                {"events": {"events": [{"type": 4, "data": {}, "timestamp": i}]}}
            )
            decoded = decode_compressed(base64.b64encode(gzip.compress(body)).decode(), 1 << 20)
            await store.append_payload(
                "lease-test",
                IncomingPayload(
                    i, decoded.digest, "compressed", LONG_AGO, decoded.summary, decoded.body
                ),
            )
        return session.id

    return build()


class _Robbed(Processor):
    """Its lease is taken by someone else as soon as it starts a job, and it then waits
    until a renewal notices."""

    def __init__(self, store: SQLStore) -> None:
        super().__init__(store, max_inflated_bytes=1 << 20, lease_ms=300)
        self.sql = store
        self.lost = asyncio.Event()

    async def _derive(self, job: Job) -> Derived | None:
        def steal(conn: Connection) -> None:
            conn.execute("UPDATE processing_queue SET lease_owner = 'thief'")

        await self.sql._write(steal)
        async with asyncio.timeout(10):
            await self.lost.wait()  # until a renewal (every 0.1 s) finds the lease taken
        return await super()._derive(job)

    async def _keep_leased(self, run: _Run) -> None:
        await super()._keep_leased(run)  # returns once a renewal finds the lease lost
        self.lost.set()


def test_a_run_that_finds_its_lease_taken_stops_and_stores_nothing(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages: list[int] = []
    add_payloads = SessionDeriver.add_payloads

    def counted(self: SessionDeriver, page: list[StoredPayload]) -> None:
        pages.append(len(page))
        add_payloads(self, page)

    monkeypatch.setattr(SessionDeriver, "add_payloads", counted)

    async def scenario(store: SQLStore) -> tuple[int, str | None, SessionView | None]:
        await _session_with_payloads(store, 3)
        processor = _Robbed(store)
        done = await processor.run_due(now=LONG_AGO + 10 * 3_600_000)

        def owner(conn: Connection) -> str | None:
            row = conn.execute("SELECT lease_owner FROM processing_queue").fetchone()
            return None if row is None else str(row[0])

        return done, await store._read(owner), await store.session_view("lease-test")

    done, owner, view = run(store, scenario)
    assert done == 1
    assert pages == []  # stopped before reading a payload, not at the end
    assert owner == "thief"
    assert view is not None
    assert view.summary is None
