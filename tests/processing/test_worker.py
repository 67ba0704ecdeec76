"""The processing loop on a real store (both engines): a job is leased only for its own run,
so the jobs waiting behind it stay free for other processes; every derivation runs off the
event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from footlight.ingest.service import now_ms
from footlight.processing.derive import derive_backend_error
from footlight.processing.worker import Processor
from footlight.store import SQLiteStore, SQLStore
from footlight.store.base import BackendError, BackendErrorInput, Derived, Job
from footlight.store.postgres import PostgresStore
from tests.conftest import fresh_database

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
    return SQLiteStore(tmp_path) if backend == "sqlite" else PostgresStore(fresh_database())


def _error(message: str) -> BackendError:
    return BackendError(message, "TypeError", "", "api", "at handler (api.js:1:2)", LONG_AGO)


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
