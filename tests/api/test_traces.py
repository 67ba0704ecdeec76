"""GET /api/v1/traces/{trace_id}: a browser request's trace as its backend continued it, the
spans of both in start order (paged) and the backend's errors on it; readable by the
session's project only."""

from __future__ import annotations

import os
from dataclasses import dataclass

import httpx
import pytest

from tests.helpers.api import assert_error_response, get_json
from tests.helpers.cli import create_token
from tests.helpers.events import active_for
from tests.helpers.graphql import record
from tests.helpers.otlp import traced_request
from tests.helpers.servers import Server, bearer_client, http_client
from tests.helpers.store import new_project
from tests.helpers.waiting import wait_for_processing


@dataclass(frozen=True)
class Traced:
    project: int
    secure_id: str
    trace_id: str


@pytest.fixture(scope="module")
def traced(api_server: Server) -> Traced:
    project = new_project(api_server, "traces")
    trace_id = os.urandom(16).hex()
    with http_client(base_url=api_server.url, timeout=30) as sdk:
        secure_id = record(sdk, project, active_for(2))
        exports = traced_request(secure_id, project.id, trace_id)
        # The backend's export first: its span and error wait for the browser's to link.
        assert sdk.post("/v1/traces", json=_only(exports["traces"], 1)).status_code == 200
        wait_for_processing(api_server)
        assert sdk.post("/v1/traces", json=_only(exports["traces"], 0)).status_code == 200
    wait_for_processing(api_server)
    return Traced(project.id, secure_id, trace_id)


def _only(export: dict[str, list[object]], index: int) -> dict[str, list[object]]:
    return {"resourceSpans": [export["resourceSpans"][index]]}


def test_a_trace_holds_the_browser_and_backend_spans_and_the_backend_error(
    api: httpx.Client, traced: Traced
) -> None:
    body = get_json(api, f"/api/v1/traces/{traced.trace_id.upper()}")
    assert body["trace_id"] == traced.trace_id
    spans = body["spans"]
    assert [(s["name"], s["kind"], s["service_name"]) for s in spans] == [
        ("HTTP GET", "client", None),
        ("GET /api/cart", "server", "cart-api"),
    ]
    assert spans[1]["parent_span_id"] == spans[0]["span_id"]
    # The backend's span joined the session of the browser span of its trace.
    assert {s["session_secure_id"] for s in spans} == {traced.secure_id}
    assert [(e["type"], e["session_secure_id"], e["service_name"]) for e in body["errors"]] == [
        ("KeyError", traced.secure_id, "cart-api")
    ]
    assert body["next_cursor"] is None


def test_a_trace_is_paged_by_a_cursor(api: httpx.Client, traced: Traced) -> None:
    first = get_json(api, f"/api/v1/traces/{traced.trace_id}", limit=1)
    assert [s["name"] for s in first["spans"]] == ["HTTP GET"]
    second = get_json(
        api, f"/api/v1/traces/{traced.trace_id}", limit=1, cursor=first["next_cursor"]
    )
    assert [s["name"] for s in second["spans"]] == ["GET /api/cart"]


def test_a_trace_is_not_found_by_another_project_nor_when_unknown(
    api_server: Server, api: httpx.Client, traced: Traced
) -> None:
    other = create_token(api_server, project=str(new_project(api_server, "not traced").id))
    with bearer_client(api_server, other) as outsider:
        assert_error_response(outsider.get(f"/api/v1/traces/{traced.trace_id}"), 404)
    assert_error_response(api.get(f"/api/v1/traces/{'0' * 32}"), 404, "no trace")
    assert_error_response(api.get("/api/v1/traces/not-a-trace"), 400, "32 hex digits")
