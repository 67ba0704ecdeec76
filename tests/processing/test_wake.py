"""Processing wakes when work is due instead of waiting out its poll: input the server itself
stored is processed at once (a session once it goes quiet), while work it was not told of
(queued by another process on the same store) is still found by polling."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from footlight.core.clock import now_ms
from footlight.processing.worker import Processor
from footlight.store import SQLiteStore, SQLStore
from footlight.store.base import BackendErrorReport
from footlight.store.postgres import PostgresStore
from tests.helpers.graphql import init_session, make_payload, push
from tests.helpers.inspection import session_console
from tests.helpers.servers import QUICK_PROCESSING as QUICK
from tests.helpers.servers import Server, http_client, http_post, start_server
from tests.helpers.store import fresh_database, with_store

T = TypeVar("T")

SLOW_POLL = {**QUICK, "FOOTLIGHT_PROCESSING_POLL_SECONDS": "30"}
"""A poll far longer than any wait below: what is processed in time was woken, not polled."""
SOON = 10.0
"""Seconds within which woken work is done, with room for a loaded machine."""


def _until(check: Callable[[], bool], what: str, timeout: float = SOON) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.02)


# -- a real server ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slow_poll(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[Server]:
    server = start_server(
        tmp_path_factory.mktemp(f"wake-{backend}") / "data", env=SLOW_POLL, backend=backend
    )
    yield server
    server.stop()


def test_a_pushed_session_is_processed_once_quiet_not_at_the_next_poll(slow_poll: Server) -> None:
    with http_client(base_url=slow_poll.url, timeout=30) as client:
        secure_id = init_session(client)
        messages = [{"type": "log", "value": ["woken"], "time": 1_795_664_479_000}]
        assert "errors" not in push(client, secure_id, 1, make_payload(messages=messages)).json()

    def processed() -> bool:
        view = with_store(slow_poll.data_dir, lambda store: store.session_view(secure_id))
        return view is not None and view.summary is not None

    _until(processed, "the session was not processed (the poll is 30 s)")
    console = with_store(slow_poll.data_dir, lambda store: session_console(store, secure_id))
    assert [m.message for m in console] == ["woken"]


def _exception_export(message: str) -> dict[str, Any]:
    def attr(key: str, value: str) -> dict[str, Any]:
        return {"key": key, "value": {"stringValue": value}}

    now = time.time_ns()
    span = {
        "traceId": os.urandom(16).hex(),
        "spanId": os.urandom(8).hex(),
        "name": "POST /checkout",
        "kind": 2,
        "startTimeUnixNano": str(now),
        "endTimeUnixNano": str(now + 50_000_000),
        "events": [
            {
                "name": "exception",
                "timeUnixNano": str(now),
                "attributes": [
                    attr("exception.type", "Declined"),
                    attr("exception.message", message),
                ],
            }
        ],
    }
    resource = [attr("service.name", "checkout"), attr("highlight.project_id", "1jdkoe52")]
    return {
        "resourceSpans": [{"resource": {"attributes": resource}, "scopeSpans": [{"spans": [span]}]}]
    }


def test_an_otlp_export_is_processed_at_once_not_at_the_next_poll(slow_poll: Server) -> None:
    message = f"declined {os.urandom(4).hex()}"
    response = http_post(f"{slow_poll.url}/v1/traces", json=_exception_export(message), timeout=30)
    assert response.status_code == 200, response.text

    def derived() -> bool:
        errors = with_store(slow_poll.data_dir, lambda store: store.errors(None, limit=1000))
        return any(e.error.message == message for e in errors)

    _until(derived, "the export's error was not derived (the poll is 30 s)")


# -- the loop on a real store -----------------------------------------------------------------


@pytest.fixture
def store(backend: str, tmp_path: Path) -> SQLStore:
    return SQLiteStore(tmp_path) if backend == "sqlite" else PostgresStore(fresh_database())


def _running(store: SQLStore, processor: Processor, scenario: Callable[[], Awaitable[T]]) -> T:
    """`scenario`'s result, run while `processor` runs its loop on the opened `store`."""

    async def main() -> T:
        await store.open()
        loop = asyncio.create_task(processor.run())
        try:
            await store.ensure_default_project()
            return await scenario()
        finally:
            loop.cancel()
            await asyncio.gather(loop, return_exceptions=True)
            await store.close()

    return asyncio.run(main())


def _error(message: str) -> BackendErrorReport:
    return BackendErrorReport(message, "TypeError", "", "api", "at handler (api.js:1:2)", now_ms())


async def _drained(store: SQLStore) -> None:
    """Return once the queue is empty; fail if that takes longer than `SOON`."""
    deadline = time.monotonic() + SOON
    while await store.queued_jobs() > 0:
        assert time.monotonic() < deadline, f"not processed within {SOON} s"
        await asyncio.sleep(0.01)


class _Counted(Processor):
    """Counts its claims, and says when it first found nothing to do."""

    def __init__(self, store: SQLStore, **options: Any) -> None:
        super().__init__(store, max_inflated_bytes=1 << 20, **options)
        self.claims = 0
        self.asleep = asyncio.Event()

    async def run_due(self, now: int | None = None) -> int:
        self.claims += 1
        return await super().run_due(now)

    async def _idle(self) -> None:
        self.asleep.set()
        await super()._idle()


def test_work_nobody_signals_is_found_by_polling(store: SQLStore) -> None:
    """As when another process on the same store queued it."""
    processor = _Counted(store, poll_seconds=0.2)

    async def scenario() -> int:
        await processor.asleep.wait()
        await store.add_backend_errors(1, [_error("from elsewhere")], now_ms())
        await _drained(store)
        return len(await store.errors(None, limit=10))

    assert _running(store, processor, scenario) == 1


def test_a_signal_wakes_the_loop_long_before_its_poll(store: SQLStore) -> None:
    processor = _Counted(store, poll_seconds=30)

    async def scenario() -> None:
        await processor.asleep.wait()  # for the next 30 s, unless woken
        await store.add_backend_errors(1, [_error("signalled")], now_ms())
        processor.work_queued("backend")
        await _drained(store)

    _running(store, processor, scenario)


def test_a_session_signalled_is_claimed_when_due_not_at_once(store: SQLStore) -> None:
    """A session's job falls due after the inactivity period: the loop sleeps until then,
    rather than claiming at the signal and finding nothing."""
    processor = _Counted(store, poll_seconds=30, session_delay_seconds=0.6)

    async def scenario() -> tuple[int, int]:
        await processor.asleep.wait()
        before = processor.claims
        processor.work_queued("session")
        await asyncio.sleep(0.3)
        early = processor.claims - before
        await asyncio.sleep(1.2)
        return early, processor.claims - before

    early, by_then = _running(store, processor, scenario)
    assert (early, by_then) == (0, 1)


def test_a_burst_of_signals_wakes_the_loop_once(store: SQLStore) -> None:
    processor = _Counted(store, poll_seconds=30)

    async def scenario() -> int:
        await processor.asleep.wait()
        before = processor.claims
        await store.add_backend_errors(1, [_error(f"e{i}") for i in range(20)], now_ms())
        for _ in range(1000):
            processor.work_queued("backend")
        await _drained(store)
        await asyncio.sleep(0.2)  # any further wake-up would have claimed by now
        return processor.claims - before

    # One claim per job, and one that finds the queue empty.
    assert _running(store, processor, scenario) == 21
