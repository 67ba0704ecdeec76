"""Live sessions (footlight.processing.live): a recording session's panes and summary fill as
its payloads arrive, long before it is finished, and processing the finished session gives
exactly the rows live derivation showed.

The servers here finish a session only after an hour of quiet; a test that wants the finished
session's processing makes its job due itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from footlight.cli import main
from footlight.core.clock import now_ms
from footlight.core.payload import validate_payload_json
from footlight.processing.limits import DerivationLimits
from footlight.processing.live import LiveSessions
from footlight.processing.worker import Processor
from footlight.store import IncomingPayload, NewSession, SQLiteStore, SQLStore
from footlight.store.base import Job, ProcessingTiming
from footlight.store.postgres import PostgresStore
from tests.helpers.cli import create_token
from tests.helpers.graphql import init_session, make_payload, meta_event, push
from tests.helpers.inspection import (
    session_console,
    session_network,
    session_tracks,
    session_websocket,
)
from tests.helpers.paths import FIXTURES
from tests.helpers.servers import Server, bearer_client, client_of, running
from tests.helpers.store import db_rows, fresh_database, using, with_store
from tests.helpers.waiting import wait_for_processing

UNFINISHED = {"FOOTLIGHT_SESSION_INACTIVITY_SECONDS": "3600"}
"""Sessions stay unfinished for the test's whole life: whatever they show is live."""

CAPTURE = FIXTURES / "highlight-run-10.7.5-requests.jsonl"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[Server]:
    with running(tmp_path_factory, "live", backend, UNFINISHED) as server:
        yield server


@pytest.fixture(scope="module")
def api(live: Server) -> Iterator[httpx.Client]:
    with bearer_client(live, create_token(live)) as client:
        yield client


def console(text: str, time_ms: int) -> dict[str, Any]:
    return {"type": "log", "value": [text], "time": time_ms, "trace": [], "attributes": "{}"}


def thrown(message: str) -> dict[str, Any]:
    return {
        "event": message,
        "type": "window.onerror",
        "url": "https://app.example/checkout",
        "source": "https://app.example/app.js",
        "lineNumber": 3,
        "columnNumber": 9,
        "stackTrace": [
            {"fileName": "https://app.example/app.js", "functionName": "pay", "lineNumber": 3}
        ],
        "timestamp": "2026-12-03T10:00:00.000Z",
    }


def live_jobs(server: Server) -> int:
    return int(
        db_rows(server.data_dir, "SELECT count(*) FROM processing_queue WHERE kind = 'live'")[0][0]
    )


def wait_for_live(server: Server, timeout: float = 30.0) -> None:
    """Until no live run is queued: everything pushed so far is derived live."""
    deadline = time.monotonic() + timeout
    while live_jobs(server):
        assert time.monotonic() < deadline, f"live runs still queued; log:\n{server.log()[-3000:]}"
        time.sleep(0.02)


def finish_sessions(server: Server) -> None:
    """Make every session's (hour-away) processing due now, and wait for it."""
    db_rows(server.data_dir, "UPDATE processing_queue SET due_at = 0 WHERE kind = 'session'")
    wait_for_processing(server)


def until(read: Any, ready: Any, timeout: float = 5.0) -> Any:
    """`read()` once `ready` holds for it; fails after `timeout` s with the last answer."""
    deadline = time.monotonic() + timeout
    while not ready(found := read()):
        assert time.monotonic() < deadline, f"not within {timeout} s: {found}"
        time.sleep(0.05)
    return found


def rows(api: httpx.Client, path: str) -> list[dict[str, Any]]:
    response = api.get(path)
    assert response.status_code == 200, response.text
    body = response.json()
    return list(next(v for v in body.values() if isinstance(v, list)))


def occurrences(api: httpx.Client, message: str) -> int:
    """The count of the error group of `message` (only the tests here record errors)."""
    (group,) = [g for g in rows(api, "/api/v1/error-groups") if g["message"] == message]
    return int(group["count"])


def test_console_errors_and_summary_show_while_the_session_records(
    live: Server, api: httpx.Client
) -> None:
    with client_of(live) as sdk:
        secure_id = init_session(sdk)
        started = 1_796_290_000_000
        payload = make_payload(
            events=[meta_event(started)],
            messages=[console("first message", started + 10)],
            errors=[thrown("TypeError: price is undefined")],
        )
        assert push(sdk, secure_id, 1, payload).status_code == 200

        # Within seconds, not after the session's hour of quiet.
        messages = until(
            lambda: rows(api, f"/api/v1/sessions/{secure_id}/console"), lambda r: len(r) == 1
        )
        assert messages[0]["message"] == "first message"
        errors = until(lambda: rows(api, f"/api/v1/sessions/{secure_id}/errors"), bool)
        assert [e["message"] for e in errors] == ["TypeError: price is undefined"]
        session = api.get(f"/api/v1/sessions/{secure_id}").json()
        assert session["status"] == "processing", session
        assert session["summary"]["console_count"] == 1
        assert session["summary"]["error_count"] == 1
        assert session["summary"]["landing_page"] == "https://app.example/"
        assert occurrences(api, "TypeError: price is undefined") == 1

        # The next push adds to what is shown, repeating nothing.
        payload = make_payload(
            events=[{**meta_event(started + 5_000), "data": {"href": "https://app.example/pay"}}],
            messages=[console("second message", started + 5_010)],
            errors=[thrown("TypeError: price is undefined")],
        )
        assert push(sdk, secure_id, 2, payload).status_code == 200
        messages = until(
            lambda: rows(api, f"/api/v1/sessions/{secure_id}/console"), lambda r: len(r) >= 2
        )
        assert [m["message"] for m in messages] == ["first message", "second message"]
        wait_for_live(live)
        assert len(rows(api, f"/api/v1/sessions/{secure_id}/errors")) == 2
        summary = api.get(f"/api/v1/sessions/{secure_id}").json()["summary"]
        assert (summary["console_count"], summary["error_count"]) == (2, 2)
        assert summary["exit_page"] == "https://app.example/pay"
        assert occurrences(api, "TypeError: price is undefined") == 2


def test_a_retried_push_adds_nothing_live(live: Server, api: httpx.Client) -> None:
    with client_of(live) as sdk:
        secure_id = init_session(sdk)
        payload = make_payload(messages=[console("once", 1_796_290_000_100)])
        for _ in range(3):
            assert push(sdk, secure_id, 1, payload).status_code == 200
            wait_for_live(live)
    assert [m["message"] for m in rows(api, f"/api/v1/sessions/{secure_id}/console")] == ["once"]


async def _everything(store: SQLStore, secure_id: str) -> dict[str, Any]:
    """All a session's derived rows and its summary, as values (no ids, no origins)."""
    view = await store.session_view(secure_id)
    assert view is not None
    assert view.summary is not None
    errors = await store.errors(None, session_secure_id=secure_id, limit=10_000)
    return {
        "summary": asdict(view.summary),
        "console": [asdict(m) for m in await session_console(store, secure_id)],
        "network": [asdict(n) for n in await session_network(store, secure_id)],
        "websocket": [asdict(w) for w in await session_websocket(store, secure_id)],
        "tracks": [asdict(t) for t in await session_tracks(store, secure_id)],
        "errors": sorted(
            json.dumps(asdict(replace(e, id=0)), sort_keys=True, default=str) for e in errors
        ),
    }


def everything(server: Server, secure_ids: list[str]) -> dict[str, dict[str, Any]]:
    async def read(store: SQLStore) -> dict[str, dict[str, Any]]:
        return {s: await _everything(store, s) for s in secure_ids}

    return with_store(server.data_dir, read)


def test_what_live_showed_is_what_the_finished_session_keeps(
    tmp_path_factory: pytest.TempPathFactory, backend: str
) -> None:
    """The real SDK's captured requests (one session over two page loads), sent one at a time
    with a live run after each push: what was shown live equals the finished session's rows,
    none doubled or missing."""
    requests = [json.loads(line) for line in CAPTURE.read_text().splitlines()]
    with running(tmp_path_factory, "live-vs-final", backend, UNFINISHED) as server:
        assert (
            main(["project", "create", "harness", "--key", "harness-project", *server.store_args])
            == 0
        )
        secure_ids: list[str] = []
        with client_of(server) as sdk:
            for request in requests:
                response = sdk.post(
                    request["path"], json=request["body"], headers=request["headers"]
                )
                assert response.status_code == 200, response.text
                variables = request["body"].get("variables", {})
                secure_id = variables.get("session_secure_id")
                if secure_id and secure_id not in secure_ids:
                    secure_ids.append(secure_id)
                wait_for_live(server)
        assert secure_ids, "the capture pushed to no session"

        shown = everything(server, secure_ids)
        live_rows = db_rows(
            server.data_dir,
            "SELECT count(*) FROM console_messages WHERE substr(origin, 1, 5) = 'live:'",
        )
        assert sum(len(v["console"]) + len(v["network"]) for v in shown.values()) > 0
        assert live_rows[0][0] == sum(len(v["console"]) for v in shown.values())

        finish_sessions(server)
        kept = everything(server, secure_ids)
        for secure_id in secure_ids:
            before, after = shown[secure_id], kept[secure_id]
            assert before["summary"]["payload_count"] > 0
            assert before == after, secure_id
        left = db_rows(
            server.data_dir,
            "SELECT (SELECT count(*) FROM console_messages WHERE substr(origin, 1, 5) = 'live:')"
            " + (SELECT count(*) FROM network_requests WHERE substr(origin, 1, 5) = 'live:')"
            " + (SELECT count(*) FROM errors WHERE substr(origin, 1, 5) = 'live:')",
        )
        assert left[0][0] == 0


def test_a_cursor_this_api_did_not_give_is_a_400(live: Server, api: httpx.Client) -> None:
    with client_of(live) as sdk:
        secure_id = init_session(sdk)
    for after in ("not-a-cursor", "WzEsMiwzXQ"):  # garbage; a list of three
        answer = api.get(f"/api/v1/sessions/{secure_id}/events", params={"after": after})
        assert answer.status_code == 400, answer.text
        assert "after is not a cursor" in answer.text
    first = api.get(f"/api/v1/sessions/{secure_id}/events", params={"after": ""})
    assert first.status_code == 200
    assert first.json() == {
        "events": [],
        "next": None,
        "more": False,
        "live": False,
        "last_input_at": None,
    }


# -- a live run's reads ------------------------------------------------------------------------


def _push_of(payload_id: int, text: str) -> IncomingPayload:
    content = msgspec.json.encode(
        make_payload(
            events=[meta_event(1_796_290_000_000 + payload_id)],
            messages=[console(text, 1_796_290_000_000 + payload_id)],
        )
    )
    compressed = gzip.compress(content, mtime=0)
    return IncomingPayload(
        payload_id=payload_id,
        digest=compressed[-8:],
        source="compressed",
        received_at=now_ms(),
        summary=validate_payload_json(content),
        body=compressed,
    )


@pytest.mark.anyio
async def test_runs_reading_a_payload_a_page_show_each_push_once(
    backend: str, tmp_path: Path
) -> None:
    """Pages of one payload each, so that a run reads page after page: a run that starts a
    deriver, one that follows it from the cursor through several new payloads, and one in a
    new `LiveSessions` (another process, or the deriver evicted), which reads the session up
    to the cursor again. Together they show every pushed message once, in order."""
    store = SQLiteStore(tmp_path) if backend == "sqlite" else PostgresStore(fresh_database())
    texts = [f"message {n}" for n in range(9)]

    async def run_live(live: LiveSessions, pushes: range) -> None:
        """Store `pushes`, run the session's live job once: it shows every message so far."""
        for n in pushes:
            assert await store.append_payload("paged", _push_of(n, texts[n])) is True
        jobs = await store.claim_jobs("test", now_ms() + 60_000, 30_000, 1, ("live",))
        assert [job.kind for job in jobs] == ["live"]
        assert await live.run(jobs[0], "test") is True
        shown = [m.message for m in await session_console(store, "paged")]
        assert shown == texts[: pushes.stop]

    async def scenario(store: SQLStore) -> None:
        await store.ensure_default_project()
        await store.initialize_session(NewSession("paged", 1, now_ms()))
        limits = DerivationLimits()
        followed = LiveSessions(
            store, limits, max_followed=4, max_followed_bytes=1 << 20, page_bytes=1
        )
        await run_live(followed, range(0, 2))
        await run_live(followed, range(2, 6))
        again = LiveSessions(
            store, limits, max_followed=4, max_followed_bytes=1 << 20, page_bytes=1
        )
        await run_live(again, range(6, 9))

        view = await store.session_view("paged")
        assert view is not None
        assert view.summary is not None
        assert view.summary.payload_count == len(texts)

    await using(store, scenario)


class _CountingRereads:
    """A store whose reads of a session from its start (what a live run that does not
    follow the session does to catch up) are counted."""

    def __init__(self, store: SQLStore) -> None:
        self.store = store
        self.rereads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def session_payloads(self, session_id: int, after: Any, max_bytes: int) -> Any:
        self.rereads += after is None
        return await self.store.session_payloads(session_id, after, max_bytes)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("max_followed", "max_followed_bytes", "rereads"),
    [(3, 1 << 20, 0), (1, 1 << 20, 2), (3, 1, 3)],
    ids=["all-followed", "one-followed", "no-room"],
)
async def test_sessions_followed_between_runs_are_not_read_again(
    backend: str, tmp_path: Path, max_followed: int, max_followed_bytes: int, rereads: int
) -> None:
    """Three sessions recording at once, two runs each. A process that keeps their derivers
    runs the second from where the first ended; past `max_followed` or `max_followed_bytes`
    it forgets the ones run longest ago and reads them again from their start. Either way
    each run shows every message once."""
    store = SQLiteStore(tmp_path) if backend == "sqlite" else PostgresStore(fresh_database())
    ids = ["s0", "s1", "s2"]

    async def scenario(store: SQLStore) -> None:
        await store.ensure_default_project()
        for secure_id in ids:
            await store.initialize_session(NewSession(secure_id, 1, now_ms()))
        counting = _CountingRereads(store)
        live = LiveSessions(
            counting,  # the store, its rereads counted
            DerivationLimits(),
            max_followed=max_followed,
            max_followed_bytes=max_followed_bytes,
            page_bytes=1 << 20,
        )
        for round_ in range(2):
            for secure_id in ids:
                text = f"{secure_id} message {round_}"
                assert await store.append_payload(secure_id, _push_of(round_, text)) is True
            jobs = await store.claim_jobs("test", now_ms() + 60_000, 30_000, 10, ("live",))
            assert len(jobs) == len(ids)
            # The second round runs the last session of the first one first: the one a
            # process that keeps a single deriver still follows.
            for job in sorted(jobs, key=lambda job: job.key, reverse=round_ == 1):
                assert await live.run(job, "test") is True
            for secure_id in ids:
                shown = [m.message for m in await session_console(store, secure_id)]
                assert shown == [f"{secure_id} message {n}" for n in range(round_ + 1)]
        assert counting.rereads == rereads

    await using(store, scenario)


# -- live runs leave the process to ingest ------------------------------------------------------


@pytest.mark.anyio
async def test_after_each_live_run_the_loop_waits_for_its_share(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `live_share` 0.2, the processing loop claims its next job only four times as long
    after a live run as the run took (`Processor._pause_after_live`)."""
    timing = ProcessingTiming(inactivity_ms=3_600_000, max_delay_ms=3_600_000, live_delay_ms=1)
    store = (
        SQLiteStore(tmp_path, timing)
        if backend == "sqlite"
        else PostgresStore(fresh_database(), timing)
    )
    runs: list[tuple[float, float]] = []
    sessions = 5
    all_run = asyncio.Event()
    run = LiveSessions.run

    async def timed(self: LiveSessions, job: Job, owner: str) -> bool:
        started = time.perf_counter()
        try:
            return await run(self, job, owner)
        finally:
            runs.append((started, time.perf_counter()))
            if len(runs) == sessions:
                all_run.set()

    monkeypatch.setattr(LiveSessions, "run", timed)

    async def scenario(store: SQLStore) -> None:
        await store.ensure_default_project()
        for n in range(sessions):
            await store.initialize_session(NewSession(f"paced{n}", 1, now_ms()))
            for payload_id in range(40):
                pushed = _push_of(payload_id, f"paced{n} message {payload_id}")
                assert await store.append_payload(f"paced{n}", pushed) is True
        processor = Processor(
            store, max_inflated_bytes=1 << 20, retention_every_seconds=None, live_share=0.2
        )
        loop = asyncio.create_task(processor.run())
        try:
            async with asyncio.timeout(20):
                await all_run.wait()
        finally:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop

    await using(store, scenario)
    for (started, ended), (following, _) in itertools.pairwise(runs):
        assert following - ended >= 4 * (ended - started) - 0.002, runs
