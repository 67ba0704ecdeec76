"""Operators' reads (read API, UI) cannot starve ingest, and each one's work is bounded.

Proven here, on real servers of both backends:

* while four operators read a session of 200,000 console messages as hard as they can (three
  paging through `/console`, one loading its UI page), a normal client's initializeSession
  and push calls keep being answered with a p99 under 1.5 s, the SDK's retry window (before,
  the reads went through the same two reader threads as ingest's project lookup, and
  `/console` answered all 200,000 rows at once: initializeSession waited for seconds);
* the API answered those reads a page at a time (at most 200 rows, with a cursor);
* a statement of an operator read that runs past `FOOTLIGHT_READ_TIMEOUT_SECONDS` is stopped:
  the API request (and the UI page) gets 503 with Retry-After and a message naming the
  setting, and the next request is served normally.

Each test runs its own server: the load must not slow other tests' servers, nor theirs it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.api import assert_error_response
from tests.helpers.cli import create_token
from tests.helpers.events import T0
from tests.helpers.graphql import (
    INIT_DOC,
    gql,
    init_session,
    init_variables,
    make_payload,
    new_secure_id,
    push,
)
from tests.helpers.servers import Server, bearer_client, http_client, start_server
from tests.helpers.store import db_rows
from tests.helpers.ui import signed_in_client

pytestmark = pytest.mark.serial

CONSOLE_ROWS = 200_000
RETRY_WINDOW_SECONDS = 1.5
"""The p99 the issue asks of a normal client under attack: the SDK retries for about that."""
LOAD_SECONDS = 5.0


def fill_console(server: Server, secure_id: str, count: int) -> None:
    db_rows(
        server.data_dir,
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
        " INSERT INTO console_messages (session_secure_id, origin, timestamp, level, message,"
        " trace, attributes) SELECT ?, 'test:1', ? + i, 'log',"
        " 'a console line of a chatty page, number ' || i, '[]', '{}' FROM n",
        [count - 1, secure_id, T0],
    )


@pytest.fixture
def loaded(tmp_path: Path, backend: str) -> Iterator[tuple[Server, str]]:
    """A server holding one session of `CONSOLE_ROWS` console messages."""
    server = start_server(tmp_path / "data", backend=backend)
    try:
        with http_client(base_url=server.url, timeout=30) as sdk:
            secure_id = init_session(sdk)
        fill_console(server, secure_id, CONSOLE_ROWS)
        yield server, secure_id
    finally:
        server.stop()


def keep_doing(stop: threading.Event, action: Callable[[], None]) -> threading.Thread:
    def run() -> None:
        while not stop.is_set():
            action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def test_heavy_operator_reads_do_not_delay_a_normal_client(loaded: tuple[Server, str]) -> None:
    server, secure_id = loaded
    token = create_token(server)
    stop = threading.Event()
    pages_read: list[int] = []
    ui_pages: list[int] = []
    problems: list[str] = []

    def page_through_console() -> None:
        with bearer_client(server, token) as api:
            api.timeout = httpx.Timeout(60)
            cursor: str | None = None
            while not stop.is_set():
                params: dict[str, Any] = {"limit": 200}
                if cursor:
                    params["cursor"] = cursor
                body = api.get(f"/api/v1/sessions/{secure_id}/console", params=params).json()
                if len(body["console"]) > 200 or not body.get("next_cursor"):
                    problems.append(f"not a page: {len(body['console'])} rows")
                    return
                pages_read.append(len(body["console"]))
                cursor = body["next_cursor"]

    def load_the_session_page() -> None:
        with signed_in_client(server, token) as ui:
            ui.timeout = httpx.Timeout(60)
            while not stop.is_set():
                ui_pages.append(ui.get(f"/ui/sessions/{secure_id}").status_code)

    operators = [keep_doing(stop, page_through_console) for _ in range(3)]
    operators.append(keep_doing(stop, load_the_session_page))
    time.sleep(0.5)  # the operators' reads are under way

    latencies: list[float] = []
    with http_client(base_url=server.url, timeout=30) as sdk:
        deadline = time.monotonic() + LOAD_SECONDS
        payload_id = 0
        while time.monotonic() < deadline:
            sid = new_secure_id()
            started = time.monotonic()
            answer = gql(sdk, INIT_DOC, init_variables(sid), "initializeSession")
            latencies.append(time.monotonic() - started)
            assert answer.json()["data"]["initializeSession"]["secure_id"] == sid
            payload_id += 1
            started = time.monotonic()
            pushed = push(sdk, sid, payload_id, make_payload())
            latencies.append(time.monotonic() - started)
            assert pushed.json() == {"data": {"pushSessionEvents": None}}, pushed.text
    stop.set()
    for thread in operators:
        thread.join(timeout=60)

    print(
        f"normal client: {len(latencies)} calls, p99 {p99(latencies):.3f} s,"
        f" max {max(latencies):.3f} s; operators: {len(pages_read)} API pages,"
        f" {len(ui_pages)} UI pages"
    )
    assert not problems, problems
    # The operators were reading all along: pages of 200 from the API, the UI page whole.
    assert len(pages_read) >= 10
    assert set(pages_read) == {200}
    assert ui_pages
    assert set(ui_pages) == {200}
    assert len(latencies) >= 20
    assert p99(latencies) < RETRY_WINDOW_SECONDS, (
        f"normal client p99 {p99(latencies):.2f} s, max {max(latencies):.2f} s over"
        f" {len(latencies)} calls; operators read {len(pages_read)} API pages,"
        f" {len(ui_pages)} UI pages"
    )


def test_an_operator_read_past_the_read_timeout_is_stopped_with_503(
    tmp_path: Path, backend: str
) -> None:
    server = start_server(
        tmp_path / "data", backend=backend, env={"FOOTLIGHT_READ_TIMEOUT_SECONDS": "0.25"}
    )
    try:
        with http_client(base_url=server.url, timeout=30) as sdk:
            secure_id = init_session(sdk)
        [(project_id,)] = db_rows(
            server.data_dir, "SELECT project_id FROM sessions WHERE secure_id = ?", [secure_id]
        )
        # 300,000 errors in 300,000 groups: listing the groups aggregates all of them, which
        # takes 2 to 5 s on either engine here, several times the limit.
        db_rows(
            server.data_dir,
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
            " INSERT INTO errors (project_id, session_secure_id, origin, fingerprint, timestamp,"
            " type, message, frames, source) SELECT ?, ?, 'test:1', 'g' || i, ? + i, 'Error',"
            " 'e', '[]', 'payload' FROM n",
            [299_999, project_id, secure_id, T0],
        )
        token = create_token(server)
        with bearer_client(server, token) as api:
            slow = api.get("/api/v1/error-groups")
            assert_error_response(slow, 503, mentions="read_timeout_seconds")
            assert slow.headers["retry-after"]
            # The connection stays usable: a quick read right after is answered.
            assert api.get(f"/api/v1/sessions/{secure_id}").status_code == 200
            assert api.get(f"/api/v1/sessions/{secure_id}/errors?limit=5").status_code == 200
        with signed_in_client(server, token) as ui:
            page = ui.get("/ui/errors")
            assert page.status_code == 503
            assert page.headers["retry-after"]
            assert "read_timeout_seconds" in page.text
            assert ui.get("/ui/sessions").status_code == 200
        with http_client(base_url=server.url, timeout=30) as sdk:
            assert init_session(sdk)  # ingest is not limited by it
    finally:
        server.stop()
