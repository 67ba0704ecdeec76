"""Large GraphQL requests are worked on off the event loop, with the very same answers.

The legacy `pushPayload` of pre-2022 SDKs sends its events as JSON variables: 15 MB of them
used to hold the event loop for seconds while they were decoded and coerced, and every
other client (`/healthz`, routine pushes) waited.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from tests.helpers.graphql import (
    LEGACY_PUSH_DOC,
    init_session,
    make_payload,
    meta_event,
    new_secure_id,
    push,
)
from tests.helpers.servers import Server, http_client, start_server

pytestmark = pytest.mark.serial

LARGE = 256 * 1024  # edge.graphql_http.LARGE_BODY_BYTES
PLACEHOLDER = b"x" * 28  # stands for a session secure id in a body built once
EVENTS = 95_000


def _legacy_body(secure_id: str, events: int) -> bytes:
    variables = {
        "session_secure_id": secure_id,
        "payload_id": "7",
        **make_payload(
            events=[
                {
                    "type": 3,
                    "data": {"source": 2, "type": 2, "id": i, "x": i, "y": i},
                    "timestamp": 1_795_664_479_000 + i,
                    "_sid": i,
                }
                for i in range(events)
            ]
        ),
    }
    return msgspec.json.encode(
        {"query": LEGACY_PUSH_DOC, "variables": variables, "operationName": "PushPayload"}
    )


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def test_large_legacy_pushes_do_not_stall_other_clients(tmp_path: Path, backend: str) -> None:
    server = start_server(tmp_path / "data", backend=backend)
    stop = threading.Event()
    answers: list[Any] = []

    def attack(body: bytes) -> None:
        with http_client(base_url=server.url, timeout=120) as attacker:
            while not stop.is_set():
                # A session of its own for each: one session may not send 15 MB every few
                # seconds for long (its byte rate, see ingest.quotas), a stranger can start many.
                session = init_session(attacker).encode()
                response = attacker.post(
                    "/",
                    content=body.replace(PLACEHOLDER, session),
                    headers={"content-type": "application/json"},
                )
                answers.append(response.json())

    try:
        with http_client(base_url=server.url, timeout=30) as client:
            secure_id = init_session(client)
            # ~10 MB, 95,000 events (FOOTLIGHT_MAX_EVENTS_PER_PAYLOAD takes 100,000): seconds
            # of CPU to decode and coerce.
            body = _legacy_body(PLACEHOLDER.decode(), EVENTS)
            attackers = [threading.Thread(target=attack, args=(body,)) for _ in range(2)]
            for thread in attackers:
                thread.start()
            time.sleep(1)
            latencies: list[float] = []
            deadline = time.monotonic() + 6
            payload_id = 0
            while time.monotonic() < deadline:
                started = time.monotonic()
                assert client.get("/healthz").status_code == 200
                latencies.append(time.monotonic() - started)
                payload_id += 1
                started = time.monotonic()
                answer = push(client, secure_id, payload_id, make_payload([meta_event()]))
                latencies.append(time.monotonic() - started)
                assert answer.json() == {"data": {"pushSessionEvents": None}}, answer.text
                time.sleep(0.1)  # within the per-session rate (10/s), as a busy page is
            stop.set()
            for thread in attackers:
                thread.join()
        assert answers  # the large pushes were worked on all along...
        assert all(a == {"data": {"pushPayload": EVENTS}} for a in answers)  # ...and stored
        assert _percentile(latencies, 0.99) < 1.5, sorted(latencies)[-5:]
    finally:
        stop.set()
        server.stop()


def _padded(body: bytes) -> bytes:
    """The same JSON document, made large with whitespace."""
    return body[:-1] + b" " * LARGE + body[-1:]


def _legacy_variables(secure_id: str) -> dict[str, Any]:
    return {"session_secure_id": secure_id, "payload_id": "3", **make_payload()}


@pytest.mark.parametrize(
    "case",
    [
        "stored",
        "variable of the wrong type",
        "bad event data",
        "unknown session",
        "parse error",
        "not a JSON object",
        "unknown operation",
    ],
)
def test_a_large_request_is_answered_exactly_as_a_small_one(
    client: httpx.Client, server: Server, case: str
) -> None:
    secure_id = init_session(client)
    variables = _legacy_variables(secure_id)
    document: Any = {
        "query": LEGACY_PUSH_DOC,
        "variables": variables,
        "operationName": "PushPayload",
    }
    if case == "variable of the wrong type":
        variables["events"]["events"][0]["type"] = "four"
    elif case == "bad event data":
        variables["events"]["events"][0]["data"] = "text"
    elif case == "unknown session":
        variables["session_secure_id"] = new_secure_id()
    elif case == "parse error":
        document["query"] = "mutation { pushPayload("
    elif case == "not a JSON object":
        document = [document]
    elif case == "unknown operation":
        document["operationName"] = "Nope"
    small = msgspec.json.encode(document)
    large = _padded(small)
    assert len(small) < LARGE < len(large)
    answers = [
        client.post("/", content=body, headers={"content-type": "application/json"})
        for body in (small, large)
    ]
    assert answers[0].status_code == answers[1].status_code
    assert answers[0].headers["content-type"] == answers[1].headers["content-type"]
    assert answers[0].content == answers[1].content
    if case == "stored":
        assert answers[0].json() == {"data": {"pushPayload": 1}}
    else:
        assert "errors" in answers[0].json()
