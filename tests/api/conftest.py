"""Fixtures for the read API tests: one real `footlight serve` that processes a session 0.2 s
after its last input, read-API tokens made with the real CLI, and builders for what the SDK
pushes (rrweb events, console messages, errors, backend errors).

Tests share the server but not data: each one records its sessions in projects of its own
and reads them back with `?project=`, so what other tests store never changes its answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest

from footlight.store import Project
from tests.conftest import (
    FIXTURES,
    Server,
    gql,
    init_session,
    make_payload,
    push,
    start_server,
    with_store,
)

QUICK_PROCESSING = {"FOOTLIGHT_SESSION_INACTIVITY_SECONDS": "0.2"}
T0 = 1_795_664_479_000
"""Epoch ms of the recordings' first event (2026-11-26T03:41:19Z)."""
APP = "https://app.example"

DOCUMENTS = FIXTURES / "documents"
IDENTIFY_DOC = (DOCUMENTS / "identifySession.graphql").read_text()
PROPERTIES_DOC = (DOCUMENTS / "addSessionProperties.graphql").read_text()
FEEDBACK_DOC = (DOCUMENTS / "addSessionFeedback.graphql").read_text()
TRACK_DOC = """mutation addTrackProperties($session_secure_id: String!, $properties_object: Any) {
  addTrackProperties(session_secure_id: $session_secure_id, properties_object: $properties_object)
}"""
BACKEND_DOC = """mutation pushBackendPayload($project_id: String,
  $errors: [BackendErrorObjectInput]!) {
  pushBackendPayload(project_id: $project_id, errors: $errors)
}"""


# -- servers, clients, tokens --------------------------------------------------------------------


@pytest.fixture(scope="session")
def api_server(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[Server]:
    """The server every read-API test talks to."""
    server = start_server(
        tmp_path_factory.mktemp(f"api-{backend}") / "data", env=QUICK_PROCESSING, backend=backend
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def admin_token(api_server: Server) -> str:
    """A token of every project (`footlight token create` without --project) that may also
    delete (`--scope admin`)."""
    return footlight_ok(
        api_server, "token", "create", "--name", "admin", "--scope", "admin"
    ).stdout.strip()


@pytest.fixture
def ingest(api_server: Server) -> Iterator[httpx.Client]:
    """A client of the public graph, as the SDK is: no token."""
    with httpx.Client(base_url=api_server.url, timeout=30) as client:
        yield client


@pytest.fixture
def api(api_server: Server, admin_token: str) -> Iterator[httpx.Client]:
    """A read-API client holding the all-projects token."""
    with bearer_client(api_server, admin_token) as client:
        yield client


def bearer_client(server: Server, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, timeout=30, headers={"authorization": f"Bearer {token}"}
    )


def footlight(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `footlight ARGS` on the server's store, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "footlight", *args, *server.store_args],
        capture_output=True,
        text=True,
        check=False,
    )


def footlight_ok(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    done = footlight(server, *args)
    assert done.returncode == 0, f"footlight {' '.join(args)} failed:\n{done.stderr}"
    return done


def new_project(server: Server, name: str) -> Project:
    return with_store(server.data_dir, lambda store: store.create_project(name))


def wait_for_processing(server: Server, timeout: float = 30.0) -> None:
    """Return once the processing queue is empty; fail if it does not drain in `timeout` s."""
    deadline = time.monotonic() + timeout
    while (queued := with_store(server.data_dir, lambda store: store.queued_jobs())) > 0:
        if time.monotonic() > deadline:
            pytest.fail(
                f"processing did not drain within {timeout} s ({queued} jobs queued);"
                f" server log:\n{server.log()[-3000:]}"
            )
        time.sleep(0.05)


def get_json(client: httpx.Client, path: str, **params: Any) -> Any:
    """GET a read-API route that must answer 200 with JSON."""
    response = client.get(path, params=params)
    assert response.status_code == 200, f"GET {path} {params}: {response.text}"
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def session_ids(client: httpx.Client, **params: Any) -> set[str]:
    """The secure ids the session list returns for these filters (all on one page)."""
    body = get_json(client, "/api/v1/sessions", limit=200, **params)
    assert body["next_cursor"] is None, "more sessions than one page"
    return {s["secure_id"] for s in body["sessions"]}


def assert_error_response(response: httpx.Response, status: int, mentions: str = "") -> None:
    """The API's error shape: `{"error": {"code", "message"}}` with the given status."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error["code"], str)
    assert mentions in error["message"], error["message"]


# -- what the SDK sends ----------------------------------------------------------------------


def meta(t: int, url: str = f"{APP}/") -> dict[str, Any]:
    return {
        "type": 4,
        "data": {"href": url, "width": 1280, "height": 800},
        "timestamp": t,
        "_sid": 1,
    }


def full_snapshot(t: int) -> dict[str, Any]:
    return {
        "type": 2,
        "data": {
            "node": {"type": 0, "childNodes": [], "id": 1},
            "initialOffset": {"left": 0, "top": 0},
        },
        "timestamp": t,
    }


def mouse_move(t: int) -> dict[str, Any]:
    return {
        "type": 3,
        "data": {"source": 1, "positions": [{"x": 1, "y": 1, "id": 1, "timeOffset": 0}]},
        "timestamp": t,
    }


def click(t: int) -> dict[str, Any]:
    return {"type": 3, "data": {"source": 2, "type": 2, "id": 1, "x": 5, "y": 5}, "timestamp": t}


def navigate(t: int, url: str) -> dict[str, Any]:
    return {"type": 5, "data": {"tag": "Navigate", "payload": url}, "timestamp": t}


def track_event(t: int, name: str, **properties: Any) -> dict[str, Any]:
    """What `H.track(name, properties)` records: a `Track` custom event."""
    payload = json.dumps({"event": name, **properties})
    return {"type": 5, "data": {"tag": "Track", "payload": payload}, "timestamp": t}


def active_for(seconds: int, t: int = T0) -> list[dict[str, Any]]:
    """A page shown at `t` and a mouse move every second for `seconds`: that many seconds active."""
    return [meta(t), full_snapshot(t), *(mouse_move(t + 1000 * i) for i in range(1, seconds + 1))]


def page_error(
    message: str,
    *,
    line: int = 10,
    function: str = "f",
    timestamp: str = "2026-11-26T03:41:21.546Z",
    type_: str = "window.onerror",
) -> dict[str, Any]:
    """An error as the SDK puts it in a payload."""
    return {
        "event": message,
        "type": type_,
        "url": f"{APP}/",
        "source": "app.js",
        "lineNumber": line,
        "columnNumber": 5,
        "stackTrace": [
            {
                "fileName": f"{APP}/app.js",
                "functionName": function,
                "lineNumber": line,
                "columnNumber": 5,
            }
        ],
        "timestamp": timestamp,
    }


def backend_error(
    message: str, secure_id: str | None, timestamp: str = "2026-11-26T03:41:30Z"
) -> dict[str, Any]:
    """An error as a backend SDK sends it with pushBackendPayload."""
    return {
        "session_secure_id": secure_id,
        "request_id": "req-1",
        "event": message,
        "type": "Backend",
        "url": "/api/pay",
        "source": "server.py",
        "stackTrace": json.dumps(
            [{"fileName": "server.py", "functionName": "pay", "lineNumber": 7}]
        ),
        "timestamp": timestamp,
        "service": {"name": "api", "version": "1"},
        "environment": "production",
    }


def push_backend_errors(
    client: httpx.Client, project: Project, errors: list[dict[str, Any]]
) -> None:
    response = gql(client, BACKEND_DOC, {"project_id": str(project.id), "errors": errors})
    assert response.json() == {"data": {"pushBackendPayload": None}}, response.text


def identify(
    client: httpx.Client,
    secure_id: str,
    identifier: str,
    user_object: Mapping[str, Any] | None = None,
) -> None:
    variables = {
        "session_secure_id": secure_id,
        "user_identifier": identifier,
        "user_object": dict(user_object) if user_object is not None else None,
    }
    response = gql(client, IDENTIFY_DOC, variables, "identifySession")
    assert response.json() == {"data": {"identifySession": identifier}}, response.text


def record(
    client: httpx.Client,
    project: Project,
    events: list[dict[str, Any]] | None = None,
    *,
    errors: list[dict[str, Any]] | None = None,
    environment: str = "test",
    **payload: Any,
) -> str:
    """Start a session of `project` and push one payload (payload id 1) to it."""
    secure_id = init_session(client, project=str(project.id), environment=environment)
    pushed = push(client, secure_id, 1, make_payload(events=events, errors=errors, **payload))
    assert pushed.json() == {"data": {"pushSessionEvents": None}}, pushed.text
    return secure_id


def next_millisecond() -> int:
    """Wait for the clock to pass the current millisecond and return the new one.

    Sessions started before the call have a `created_at` below it, sessions started after it
    one at or above it: a boundary for the `from`/`to` filters.
    """
    now = int(time.time() * 1000)
    while (later := int(time.time() * 1000)) <= now:
        time.sleep(0.001)
    return later


def attr(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def traced_request(secure_id: str, project_id: int, trace_id: str) -> dict[str, Any]:
    """OTLP exports by signal: the browser's fetch span of the session, the backend's span
    (cart-api) of the same trace with an exception, and a backend log line of the session."""
    start = (T0 + 200) * 1_000_000
    fetch = {
        "traceId": trace_id,
        "spanId": os.urandom(8).hex(),
        "name": "HTTP GET",
        "kind": 3,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 50_000_000),
        "attributes": [
            attr("highlight.session_id", secure_id),
            attr("http.method", "GET"),
            attr("http.url", "https://app.example/api/cart"),
        ],
    }
    backend = {
        "traceId": trace_id,
        "spanId": os.urandom(8).hex(),
        "parentSpanId": fetch["spanId"],
        "name": "GET /api/cart",
        "kind": 2,
        "startTimeUnixNano": str(start + 5_000_000),
        "endTimeUnixNano": str(start + 45_000_000),
        "events": [
            {
                "name": "exception",
                "timeUnixNano": str(start + 40_000_000),
                "attributes": [
                    attr("exception.type", "KeyError"),
                    attr("exception.message", "x"),
                ],
            }
        ],
    }
    service = [attr("service.name", "cart-api"), attr("highlight.project_id", str(project_id))]
    line = {
        "timeUnixNano": str(start + 10_000_000),
        "severityText": "INFO",
        "body": {"stringValue": "cart read"},
        "attributes": [attr("highlight.session_id", secure_id)],
    }
    return {
        "traces": {
            "resourceSpans": [
                {"resource": {"attributes": [attr("telemetry.sdk.language", "webjs")]},
                 "scopeSpans": [{"spans": [fetch]}]},
                {"resource": {"attributes": service}, "scopeSpans": [{"spans": [backend]}]},
            ]
        },
        "logs": {
            "resourceLogs": [
                {"resource": {"attributes": service}, "scopeLogs": [{"logRecords": [line]}]}
            ]
        },
    }  # fmt: skip
