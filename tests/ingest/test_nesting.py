"""Deep pages are recorded; pathological nesting is refused cleanly.

An rrweb FullSnapshot nests two JSON levels per DOM level. With CPython's default recursion
limit msgspec refused pages deeper than ~485 elements, and the page's whole recording was
lost. footlight now reads JSON `max_json_depth` levels deep (10,000 by default, ~4,995 DOM
levels), at ingest, in processing, in the events API and in `footlight export`, and refuses
anything deeper with an error that names the setting.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest

from tests.helpers.cli import create_token
from tests.helpers.graphql import (
    LEGACY_PUSH_DOC,
    error_codes,
    gql,
    init_session,
    make_payload,
    meta_event,
    push,
)
from tests.helpers.servers import (
    QUICK_PROCESSING,
    Server,
    client_of,
    http_client,
    running,
    start_server,
)
from tests.helpers.store import db_rows
from tests.helpers.waiting import wait_for_processing

T0 = 1_795_664_479_000


def deep_dom(levels: int) -> dict[str, Any]:
    """A document whose body nests `levels` elements, as rrweb serialises it."""
    node: dict[str, Any] = {"type": 3, "textContent": "the deepest text", "id": levels + 3}
    for depth in range(levels, 0, -1):
        node = {
            "type": 2,
            "tagName": "div",
            "attributes": {"class": f"level-{depth}"},
            "childNodes": [node],
            "id": depth + 2,
        }
    return {"type": 0, "childNodes": [node], "id": 1}


def full_snapshot(levels: int) -> dict[str, Any]:
    return {
        "type": 2,
        "data": {"node": deep_dom(levels), "initialOffset": {"left": 0, "top": 0}},
        "timestamp": T0 + 10,
        "_sid": 2,
    }


def mouse_click(t: int) -> dict[str, Any]:
    return {"type": 3, "data": {"source": 2, "type": 2, "id": 5, "x": 10, "y": 20}, "timestamp": t}


@pytest.fixture(autouse=True)
def deep_encoding() -> Iterator[None]:
    """This process encodes the deep pages it sends with msgspec, which is bound by the
    recursion limit too (at ~64 bytes of stack per level: 1 MB here)."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(15_000)
    yield
    sys.setrecursionlimit(before)


@pytest.fixture(scope="module")
def deep_server(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[Server]:
    with running(tmp_path_factory, "nesting", backend, QUICK_PROCESSING) as server:
        yield server


@pytest.fixture
def client(deep_server: Server) -> Iterator[httpx.Client]:
    with client_of(deep_server, timeout=60) as c:
        yield c


@pytest.mark.parametrize("levels", [1_000, 4_900])
def test_a_deep_page_is_stored_processed_and_replayable(
    client: httpx.Client, deep_server: Server, levels: int
) -> None:
    secure_id = init_session(client)
    events = [meta_event(T0), full_snapshot(levels), mouse_click(T0 + 1000)]
    response = push(client, secure_id, 1, make_payload(events=events))
    assert response.json() == {"data": {"pushSessionEvents": None}}, response.text
    wait_for_processing(deep_server)
    token = create_token(deep_server)
    headers = {"authorization": f"Bearer {token}"}
    session = client.get(f"/api/v1/sessions/{secure_id}", headers=headers).json()
    assert session["status"] == "processed", session
    assert session["summary"]["event_count"] == 3
    assert session["summary"]["click_count"] == 1
    replay = client.get(f"/api/v1/sessions/{secure_id}/events", headers=headers)
    assert replay.status_code == 200
    # Exactly the events as recorded, the deep snapshot byte for byte.
    assert replay.content == b"[" + b",".join(msgspec.json.encode(e) for e in events) + b"]"
    exported = subprocess.run(
        [sys.executable, "-m", "footlight", "export", secure_id, *deep_server.store_args],
        capture_output=True,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr.decode()
    assert exported.stdout == replay.content


def test_a_deep_page_in_a_legacy_push_is_stored(client: httpx.Client, deep_server: Server) -> None:
    secure_id = init_session(client)
    payload = make_payload(events=[meta_event(T0), full_snapshot(3_000)])
    response = gql(
        client, LEGACY_PUSH_DOC, {"session_secure_id": secure_id, "payload_id": "1", **payload}
    )
    assert response.json() == {"data": {"pushPayload": 2}}, response.text[:500]


@pytest.mark.parametrize("depth", [20_000, 1_000_000])
def test_pathological_nesting_is_refused_naming_the_setting_and_nothing_is_stored(
    client: httpx.Client, deep_server: Server, depth: int
) -> None:
    secure_id = init_session(client)
    nested = b"[" * depth + b"]" * depth
    data = (
        b'{"events": {"events": [{"type": 2, "timestamp": 1, "data": {"node": ' + nested + b"}}]}}"
    )
    response = push(client, secure_id, 1, data)
    assert error_codes(response) == ["BAD_USER_INPUT"]
    message = response.json()["errors"][0]["message"]
    assert "data: JSON is nested too deeply" in message
    assert "limit: max_json_depth" in message
    body = b'{"query": "{ ignore(id: 1) }", "variables": {"x": ' + nested + b"}}"
    answer = client.post("/", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert "limit: max_json_depth" in answer.json()["errors"][0]["message"]
    assert client.get("/healthz").status_code == 200
    stored = db_rows(
        deep_server.data_dir,
        "SELECT count(*) FROM payloads p JOIN sessions s ON s.id = p.session_id"
        " WHERE s.secure_id = ?",
        (secure_id,),
    )
    assert stored == [(0,)]


def test_the_depth_is_a_setting(tmp_path_factory: pytest.TempPathFactory, backend: str) -> None:
    """Up to the setting is always read; beyond it plus the frames a request already has on
    its stack (at most 1,000) is always refused."""
    server = start_server(
        tmp_path_factory.mktemp(f"nesting-setting-{backend}") / "data",
        env={"FOOTLIGHT_MAX_JSON_DEPTH": "2000"},
        backend=backend,
    )
    try:
        with http_client(base_url=server.url, timeout=60) as client:
            secure_id = init_session(client)
            kept = push(client, secure_id, 1, make_payload(events=[full_snapshot(990)]))
            assert kept.json() == {"data": {"pushSessionEvents": None}}, kept.text
            refused = push(client, secure_id, 2, make_payload(events=[full_snapshot(1_600)]))
            assert error_codes(refused) == ["BAD_USER_INPUT"]
            assert "more than 2000 levels" in refused.json()["errors"][0]["message"]
    finally:
        server.stop()
