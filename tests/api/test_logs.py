"""GET /api/v1/logs: a project's OTLP log records, with and without a session, searchable by
session, service, level, text and time, newest first, a keyset page at a time; a backend's
error-level lines are errors too (with their service), and its lines of a session are in
that session's console, marked backend. The backends that reported (OTLP exports,
markBackendSetup) are listed with their project, a bounded number of them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.helpers.api import assert_error_response, get_json
from tests.helpers.cli import create_token
from tests.helpers.graphql import MARK_BACKEND, error_codes, gql, init_session
from tests.helpers.servers import Server, bearer_client, http_client
from tests.helpers.store import new_project
from tests.helpers.waiting import wait_for_processing


def _attr(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def _record(at: int, severity: str, number: int, body: str, *attrs: dict[str, Any]) -> Any:
    return {
        "timeUnixNano": str(at * 1_000_000),
        "severityText": severity,
        "severityNumber": number,
        "body": {"stringValue": body},
        "attributes": list(attrs),
    }


@dataclass(frozen=True)
class Logged:
    project: int
    session: str
    t0: int
    """Epoch ms of the first record; the others follow 1 ms apart."""


@pytest.fixture(scope="module")
def logged(api_server: Server) -> Logged:
    """A backend of a project of its own logs three lines of no session and one inside a
    browser session, as `highlight-io` exports them (project on the resource)."""
    project = new_project(api_server, "logs").id
    with http_client(base_url=api_server.url, timeout=30) as ingest:
        session = init_session(ingest, project=str(project))
        t0 = int(time.time() * 1000) - 60_000
        export = {
            "resourceLogs": [
                {
                    "resource": {
                        "attributes": [
                            _attr("service.name", "checkout-api"),
                            _attr("service.version", "1.2.3"),
                            _attr("deployment.environment", "production"),
                            _attr("highlight.project_id", str(project)),
                        ]
                    },
                    "scopeLogs": [
                        {
                            "logRecords": [
                                _record(t0, "INFO", 9, "cart updated"),
                                _record(t0 + 1, "ERROR", 17, "Payment provider timed out"),
                                _record(t0 + 2, "DEBUG", 5, "cache miss"),
                                _record(
                                    t0 + 3,
                                    "WARNING",
                                    13,
                                    "inventory low",
                                    _attr("highlight.session_id", session),
                                ),
                            ]
                        }
                    ],
                }
            ]
        }
        assert ingest.post("/v1/logs", json=export).status_code == 200
        # Another service of the same project, to filter by.
        other = {
            "resourceLogs": [
                {
                    "resource": {
                        "attributes": [
                            _attr("service.name", "mailer"),
                            _attr("highlight.project_id", str(project)),
                        ]
                    },
                    "scopeLogs": [{"logRecords": [_record(t0 + 4, "INFO", 9, "mail sent")]}],
                }
            ]
        }
        assert ingest.post("/v1/logs", json=other).status_code == 200
    wait_for_processing(api_server)
    return Logged(project, session, t0)


def _messages(api: httpx.Client, logged: Logged, **params: Any) -> list[str]:
    body = get_json(api, "/api/v1/logs", project=str(logged.project), **params)
    return [record["message"] for record in body["logs"]]


def test_a_projects_logs_are_listed_newest_first_with_their_service(
    api: httpx.Client, logged: Logged
) -> None:
    body = get_json(api, "/api/v1/logs", project=str(logged.project))
    assert [r["message"] for r in body["logs"]] == [
        "mail sent",
        "inventory low",
        "cache miss",
        "Payment provider timed out",
        "cart updated",
    ]
    assert body["next_cursor"] is None
    error = body["logs"][3]
    assert (error["level"], error["timestamp"], error["session_secure_id"]) == (
        "error",
        logged.t0 + 1,
        None,
    )
    assert (error["service_name"], error["service_version"], error["environment"]) == (
        "checkout-api",
        "1.2.3",
        "production",
    )
    assert body["logs"][1]["session_secure_id"] == logged.session


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"level": "ERROR"}, ["Payment provider timed out"]),
        ({"level": "warn"}, ["inventory low"]),
        ({"service": "mailer"}, ["mail sent"]),
        ({"q": "PAYMENT"}, ["Payment provider timed out"]),
        ({"q": "%"}, []),  # a LIKE wildcard is a character like any other
    ],
)
def test_logs_are_filtered(
    api: httpx.Client, logged: Logged, params: dict[str, str], expected: list[str]
) -> None:
    assert _messages(api, logged, **params) == expected


def test_logs_are_filtered_by_session_and_time(api: httpx.Client, logged: Logged) -> None:
    assert _messages(api, logged, session=logged.session) == ["inventory low"]
    window = {"from": str(logged.t0 + 1), "to": str(logged.t0 + 3)}
    assert _messages(api, logged, **window) == ["cache miss", "Payment provider timed out"]


def test_logs_are_paged_by_a_cursor(api: httpx.Client, logged: Logged) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        body = get_json(api, "/api/v1/logs", project=str(logged.project), **params)
        seen += [record["message"] for record in body["logs"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == _messages(api, logged)


def test_a_bad_level_is_a_400(api: httpx.Client, logged: Logged) -> None:
    response = api.get("/api/v1/logs", params={"level": "loud"})
    assert_error_response(response, 400, "level must be one of")


def test_a_token_of_another_project_reads_none_of_them(api_server: Server, logged: Logged) -> None:
    other = new_project(api_server, "not the logs'")
    with bearer_client(api_server, create_token(api_server, project=str(other.id))) as client:
        assert (
            client.get("/api/v1/logs", params={"project": str(logged.project)}).status_code == 403
        )
        assert get_json(client, "/api/v1/logs")["logs"] == []


def test_a_backend_error_line_is_an_error_and_its_session_lines_are_in_its_console(
    api: httpx.Client, logged: Logged
) -> None:
    errors = get_json(api, "/api/v1/errors", project=str(logged.project))["errors"]
    assert [(e["type"], e["message"], e["session_secure_id"]) for e in errors] == [
        ("log", "Payment provider timed out", None)
    ]
    assert (errors[0]["service_name"], errors[0]["environment"]) == ("checkout-api", "production")
    console = get_json(api, f"/api/v1/sessions/{logged.session}/console")["console"]
    assert [(m["level"], m["message"], m["source"]) for m in console] == [
        ("warn", "inventory low", "backend")
    ]


def _backends(api: httpx.Client, project: int) -> list[dict[str, Any]]:
    listed = get_json(api, "/api/v1/projects")["projects"]
    found: list[dict[str, Any]] = next(p for p in listed if p["id"] == project)["backend_services"]
    return found


def test_the_backends_that_reported_are_listed_with_their_project(
    api: httpx.Client, logged: Logged
) -> None:
    backends = _backends(api, logged.project)
    assert [b["name"] for b in backends] == ["checkout-api", "mailer"]
    assert all(b["first_seen"] <= b["last_seen"] for b in backends)


def test_mark_backend_setup_lists_a_backend_and_refuses_what_names_no_project(
    api_server: Server, api: httpx.Client
) -> None:
    project = new_project(api_server, "marked").id
    with http_client(base_url=api_server.url, timeout=30) as sdk:
        marked = gql(sdk, MARK_BACKEND, {"project_id": str(project), "type": "errors"})
        assert marked.json() == {"data": {"markBackendSetup": None}}
        session = init_session(sdk, project=str(project))
        by_session = gql(sdk, MARK_BACKEND, {"session_secure_id": session, "type": "logs"})
        assert by_session.json() == {"data": {"markBackendSetup": None}}
        assert error_codes(gql(sdk, MARK_BACKEND, {"project_id": "no-such-project"})) == [
            "NOT_FOUND"
        ]
        assert error_codes(gql(sdk, MARK_BACKEND, {})) == ["BAD_USER_INPUT"]
    assert [b["name"] for b in _backends(api, project)] == ["errors", "logs"]


def test_a_project_lists_at_most_the_configured_number_of_backends(
    api_server: Server, api: httpx.Client
) -> None:
    project = new_project(api_server, "many backends").id
    with http_client(base_url=api_server.url, timeout=30) as sdk:
        for i in range(101):  # FOOTLIGHT_MAX_BACKEND_SERVICES is 100 by default
            answer = gql(sdk, MARK_BACKEND, {"project_id": str(project), "type": f"svc-{i:03}"})
            assert answer.json() == {"data": {"markBackendSetup": None}}
    names = [b["name"] for b in _backends(api, project)]
    assert names == [f"svc-{i:03}" for i in range(100)]


def test_a_service_name_with_a_nul_is_listed_with_it_replaced(
    api_server: Server, api: httpx.Client
) -> None:
    project = new_project(api_server, "nul service").id
    export = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [
                        _attr("service.name", "cart\x00api"),
                        _attr("highlight.project_id", str(project)),
                    ]
                },
                "scopeLogs": [{"logRecords": [_record(int(time.time() * 1000), "INFO", 9, "x")]}],
            }
        ]
    }
    with http_client(base_url=api_server.url, timeout=30) as sdk:
        assert sdk.post("/v1/logs", json=export).status_code == 200
    wait_for_processing(api_server)  # not failed and retried: processed
    assert [b["name"] for b in _backends(api, project)] == ["cart\ufffdapi"]
    assert [
        g["service_name"] for g in get_json(api, "/api/v1/logs", project=str(project))["logs"]
    ] == ["cart\ufffdapi"]
