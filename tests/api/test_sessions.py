"""The sessions of the read API over real HTTP, from a real server's own processing.

Proven here:

* every filter of `GET /api/v1/sessions` (time range in epoch ms and ISO 8601, user by
  identifier or email, has_errors, visited URL, environment, least active time) keeps exactly
  the sessions it should, alone and combined, and a malformed value is a 400 naming the
  parameter;
* cursor pagination returns every session exactly once, newest first, with the filters
  kept across pages and `next_cursor` null at the end; a cursor the API did not make is 400;
* one session goes pending → processing → processed (and back to processing when more input
  re-opens it), with the summary processing derived (exact active time, pages, clicks,
  landing and exit page) and its properties grouped by kind;
* `/events` streams the pushed rrweb events as one JSON array in payload-id order whatever
  the order of arrival; console, network, websocket, errors, track and feedback return what
  was pushed;
* deleting a session (API or `footlight session delete`) removes it from every read,
  including error groups; `footlight export` writes exactly the API's events array.
"""

from __future__ import annotations

import base64
import json
import random
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from footlight.core.ids import encode_project
from footlight.store import Project
from tests.helpers.api import assert_error_response, get_json, session_ids
from tests.helpers.cli import create_token, footlight
from tests.helpers.events import (
    APP,
    T0,
    active_for,
    backend_error,
    click,
    full_snapshot,
    meta,
    mouse_move,
    navigate,
    page_error,
    track_event,
)
from tests.helpers.graphql import (
    FEEDBACK_DOC,
    PROPERTIES_DOC,
    TRACK_DOC,
    gql,
    identify,
    init_session,
    make_payload,
    push,
    push_backend_errors,
    record,
)
from tests.helpers.servers import Server, bearer_client, http_client, start_server
from tests.helpers.store import db_rows, new_project, read_session
from tests.helpers.waiting import next_millisecond, wait_for_processing


def iso(ms: int, zone: timezone = UTC) -> str:
    """`ms` as ISO 8601 with milliseconds, in `zone` (UTC is written with a Z)."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    text = moment.astimezone(zone).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def push_ok(client: httpx.Client, secure_id: str, payload_id: int, payload: Any) -> None:
    response = push(client, secure_id, payload_id, payload)
    assert response.json() == {"data": {"pushSessionEvents": None}}, response.text


def mutate_ok(client: httpx.Client, document: str, variables: dict[str, Any]) -> None:
    response = gql(client, document, variables)
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.text


# -- filters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalog:
    """Four processed sessions of one project, started in this order:

    * ada: production, identified "Ada.Lovelace" with email ADA@Example.com, an error,
      20 s active, visited /checkout;
    * bob: staging, identified "bob-42" (no email), no error, 2 s active;
    * anon: production, anonymous, no error, no snapshot (0 s active), visited /Cart;
    * carol: staging, identified "carol@shop.example" (an email), an error, 5 s active.
    """

    project: Project
    ids: dict[str, str]
    boundaries: dict[str, int]
    """after_ada, after_bob, after_anon: epoch ms between consecutive starts."""

    def values(self) -> dict[str, str]:
        """Placeholders for parametrized filters: each boundary in epoch ms and ISO forms."""
        india = timezone(timedelta(hours=5, minutes=30))
        values: dict[str, str] = {}
        for name, ms in self.boundaries.items():
            values[name] = str(ms)
            values[f"{name}_iso"] = iso(ms)
            values[f"{name}_offset"] = iso(ms, india)
        return values


@pytest.fixture(scope="module")
def catalog(api_server: Server, admin_token: str) -> Catalog:
    project = new_project(api_server, "filters")
    ids: dict[str, str] = {}
    boundaries: dict[str, int] = {}
    with http_client(base_url=api_server.url, timeout=30) as sdk:
        ids["ada"] = record(
            sdk,
            project,
            [*active_for(20), navigate(T0 + 20_500, f"{APP}/checkout")],
            errors=[page_error("card declined")],
            environment="production",
        )
        identify(sdk, ids["ada"], "Ada.Lovelace", {"email": "ADA@Example.com"})
        boundaries["after_ada"] = next_millisecond()
        ids["bob"] = record(sdk, project, active_for(2), environment="staging")
        identify(sdk, ids["bob"], "bob-42")
        boundaries["after_bob"] = next_millisecond()
        ids["anon"] = record(
            sdk, project, [meta(T0), navigate(T0 + 500, f"{APP}/Cart")], environment="production"
        )
        boundaries["after_anon"] = next_millisecond()
        ids["carol"] = record(
            sdk,
            project,
            active_for(5),
            errors=[page_error("out of stock")],
            environment="staging",
        )
        identify(sdk, ids["carol"], "carol@shop.example")
    wait_for_processing(api_server)
    found = Catalog(project, ids, boundaries)
    with bearer_client(api_server, admin_token) as api:
        # The boundaries really separate the sessions, by the server's own clock.
        started = {
            name: get_json(api, f"/api/v1/sessions/{sid}")["created_at"]
            for name, sid in ids.items()
        }
    assert started["ada"] < boundaries["after_ada"] <= started["bob"]
    assert started["bob"] < boundaries["after_bob"] <= started["anon"]
    assert started["anon"] < boundaries["after_anon"] <= started["carol"]
    return found


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, "ada bob anon carol"),
        # time range: from inclusive, to exclusive; epoch ms, ISO with Z, ISO with an offset
        ({"from": "{after_ada}"}, "bob anon carol"),
        ({"to": "{after_bob}"}, "ada bob"),
        ({"from": "{after_ada}", "to": "{after_anon}"}, "bob anon"),
        ({"from": "{after_ada_iso}", "to": "{after_anon_iso}"}, "bob anon"),
        ({"from": "{after_bob_offset}"}, "anon carol"),
        ({"to": "{after_ada_offset}"}, "ada"),
        ({"from": "{after_anon}", "to": "{after_ada}"}, ""),
        # user: part of the identifier or the email, any case; LIKE wildcards are literal
        ({"user": "LOVELACE"}, "ada"),
        ({"user": "ada@example.com"}, "ada"),
        ({"user": "Shop.Example"}, "carol"),
        ({"user": "example"}, "ada carol"),
        ({"user": "b-4"}, "bob"),
        ({"user": "%"}, ""),
        ({"user": "_"}, ""),
        # errors
        ({"has_errors": "true"}, "ada carol"),
        ({"has_errors": "false"}, "bob anon"),
        ({"has_errors": "1"}, "ada carol"),
        ({"has_errors": "no"}, "bob anon"),
        # a visited URL, any case, Navigate pages included
        ({"url": "checkout"}, "ada"),
        ({"url": "/CART"}, "anon"),
        ({"url": "app.example/"}, "ada bob anon carol"),
        ({"url": "elsewhere.example"}, ""),
        # environment: exact
        ({"environment": "production"}, "ada anon"),
        ({"environment": "Production"}, ""),
        ({"environment": "prod"}, ""),
        # least active time
        ({"min_active_seconds": "20"}, "ada"),
        ({"min_active_seconds": "21"}, ""),
        ({"min_active_seconds": "3"}, "ada carol"),
        ({"min_active_seconds": "0"}, "ada bob anon carol"),
        # combined: every filter must hold
        ({"environment": "production", "has_errors": "false"}, "anon"),
        ({"user": "example", "environment": "staging"}, "carol"),
        ({"from": "{after_ada}", "has_errors": "true"}, "carol"),
        ({"to": "{after_anon_iso}", "min_active_seconds": "2", "url": "APP.EXAMPLE"}, "ada bob"),
        ({"user": "example", "has_errors": "true", "min_active_seconds": "10"}, "ada"),
    ],
)
def test_session_filters_keep_exactly_the_matching_sessions(
    api: httpx.Client, catalog: Catalog, filters: dict[str, str], expected: str
) -> None:
    values = catalog.values()
    params = {name: value.format(**values) for name, value in filters.items()}
    found = session_ids(api, project=str(catalog.project.id), **params)
    names = {name for name, sid in catalog.ids.items() if sid in found}
    assert found == {catalog.ids[name] for name in names}, "a session of another project"
    assert names == set(expected.split())


def test_the_project_filter_takes_numeric_and_verbose_ids(
    api: httpx.Client, catalog: Catalog
) -> None:
    numeric = session_ids(api, project=str(catalog.project.id))
    verbose = session_ids(api, project=encode_project(catalog.project.id))
    assert numeric == verbose == set(catalog.ids.values())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("from", "yesterday"),
        ("from", "2026-11-26T10:00:00"),  # no time zone
        ("from", "99999999999999999999999"),
        ("from", "²"),
        ("to", "2026-13-40T00:00:00Z"),
        ("has_errors", "maybe"),
        ("min_active_seconds", "ten"),
        ("min_active_seconds", "1.5"),
        ("min_active_seconds", "9999999999999999999999"),
        ("limit", "0"),
        ("limit", "201"),
        ("limit", "-3"),
        ("limit", "many"),
        ("project", "not a project"),
        ("cursor", "not a cursor!"),
    ],
)
def test_a_malformed_parameter_is_400_naming_it(api: httpx.Client, name: str, value: str) -> None:
    response = api.get("/api/v1/sessions", params={name: value})
    assert_error_response(response, 400, mentions=name)
    assert response.json()["error"]["code"] == "BAD_REQUEST"


LIST_PARAMETERS = [
    ("/api/v1/sessions", name)
    for name in (
        "project", "from", "to", "user", "has_errors", "url", "environment",
        "min_active_seconds", "limit", "cursor",
    )
] + [
    ("/api/v1/errors", name) for name in ("project", "fingerprint", "limit", "cursor")
] + [("/api/v1/error-groups", name) for name in ("project", "limit", "cursor")]  # fmt: skip


@pytest.mark.parametrize(("path", "name"), LIST_PARAMETERS)
@pytest.mark.parametrize("value", ["\x00", "ada\x00", "\x00%"])
def test_a_nul_in_any_filter_is_400_naming_it(
    api: httpx.Client, catalog: Catalog, path: str, name: str, value: str
) -> None:
    # SQLite's LIKE stopped at the NUL: `user=%00` matched every session. PostgreSQL cannot
    # hold a NUL at all. Both now answer the same 400, naming the parameter.
    response = api.get(path, params={name: value})
    assert_error_response(response, 400, mentions=f"{name} must not contain a NUL character")


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "%%%",
        _b64({"created_at": 1}),
        _b64([]),
        _b64([1]),
        _b64(["a", "b"]),
        _b64([1, 2, 3]),
        _b64([10**30, 1]),
        _b64([1.5, True]),
    ],
)
def test_a_cursor_the_api_did_not_make_is_400(api: httpx.Client, cursor: str) -> None:
    response = api.get("/api/v1/sessions", params={"cursor": cursor})
    assert_error_response(response, 400, mentions="cursor")


# -- pagination ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def twenty_five(api_server: Server) -> tuple[Project, list[str]]:
    """25 sessions of a fresh project, in the order they were started; even ones in "even"."""
    project = new_project(api_server, "pages")
    with http_client(base_url=api_server.url, timeout=30) as sdk:
        started = [
            init_session(sdk, project=str(project.id), environment=("even", "odd")[i % 2])
            for i in range(25)
        ]
    return project, started


def _all_pages(api: httpx.Client, limit: int, **params: str) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        body = get_json(api, "/api/v1/sessions", **query)
        pages.append([s["secure_id"] for s in body["sessions"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "pagination does not end"


def test_pages_hold_every_session_once_newest_first(
    api: httpx.Client, twenty_five: tuple[Project, list[str]]
) -> None:
    project, started = twenty_five
    pages = _all_pages(api, 10, project=str(project.id))
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [sid for page in pages for sid in page] == started[::-1]


def test_a_last_full_page_is_followed_by_an_empty_one_ending_the_list(
    api: httpx.Client, twenty_five: tuple[Project, list[str]]
) -> None:
    project, started = twenty_five
    pages = _all_pages(api, 5, project=str(project.id))
    assert [len(p) for p in pages] == [5, 5, 5, 5, 5, 0]
    assert [sid for page in pages for sid in page] == started[::-1]


def test_filters_hold_across_pages(
    api: httpx.Client, twenty_five: tuple[Project, list[str]]
) -> None:
    project, started = twenty_five
    pages = _all_pages(api, 4, project=str(project.id), environment="even")
    assert [len(p) for p in pages] == [4, 4, 4, 1]
    assert [sid for page in pages for sid in page] == started[::2][::-1]


def test_sessions_created_later_do_not_shift_later_pages(
    api: httpx.Client, api_server: Server
) -> None:
    project = new_project(api_server, "moving")
    with http_client(base_url=api_server.url, timeout=30) as sdk:
        first = [init_session(sdk, project=str(project.id)) for _ in range(4)]
        page = get_json(api, "/api/v1/sessions", project=str(project.id), limit=2)
        newcomer = init_session(sdk, project=str(project.id))
    rest = get_json(
        api, "/api/v1/sessions", project=str(project.id), limit=10, cursor=page["next_cursor"]
    )
    assert [s["secure_id"] for s in page["sessions"]] == first[:1:-1]
    assert [s["secure_id"] for s in rest["sessions"]] == first[1::-1]
    assert newcomer not in {s["secure_id"] for s in rest["sessions"]}


# -- one session -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def patient_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that would wait an hour of quiet before processing a session, so the state
    between a push and its processing can be observed however slow the machine;
    `process_now` makes its queued jobs due."""
    server = start_server(
        tmp_path_factory.mktemp("patient") / "data",
        env={"FOOTLIGHT_SESSION_INACTIVITY_SECONDS": "3600"},
    )
    yield server
    server.stop()


def process_now(server: Server) -> None:
    db_rows(server.data_dir, "UPDATE processing_queue SET due_at = 0")
    wait_for_processing(server)


def test_a_session_goes_from_pending_to_processing_to_processed(patient_server: Server) -> None:
    token = create_token(patient_server)
    with (
        http_client(base_url=patient_server.url, timeout=30) as sdk,
        bearer_client(patient_server, token) as api,
    ):
        secure_id = init_session(sdk)
        path = f"/api/v1/sessions/{secure_id}"
        fresh = get_json(api, path)
        assert (fresh["status"], fresh["summary"], fresh["processed_at"]) == ("pending", None, None)

        push_ok(sdk, secure_id, 1, make_payload(events=active_for(3)))
        waiting = get_json(api, path)
        assert (waiting["status"], waiting["summary"]) == ("processing", None)

        process_now(patient_server)
        done = get_json(api, path)
        assert done["status"] == "processed"
        assert done["processed_at"] >= done["created_at"]
        assert (done["summary"]["payload_count"], done["summary"]["active_ms"]) == (1, 3000)

        # More input re-opens the session; the previous summary stays until it is redone.
        push_ok(sdk, secure_id, 2, make_payload(events=[mouse_move(T0 + 5000)]))
        reopened = get_json(api, path)
        assert reopened["status"] == "processing"
        assert reopened["summary"]["payload_count"] == 1

        process_now(patient_server)
        again = get_json(api, path)
        assert again["status"] == "processed"
        assert (again["summary"]["payload_count"], again["summary"]["active_ms"]) == (2, 5000)


def test_the_summary_holds_what_processing_derived(
    api: httpx.Client, ingest: httpx.Client, api_server: Server
) -> None:
    project = new_project(api_server, "summary")
    events = [
        meta(T0, f"{APP}/"),
        full_snapshot(T0),
        mouse_move(T0 + 2000),
        mouse_move(T0 + 4000),
        click(T0 + 6000),
        navigate(T0 + 7000, f"{APP}/cart"),
        mouse_move(T0 + 8000),
        # 30 s without input: inactive
        mouse_move(T0 + 38_000),
        click(T0 + 39_000),
    ]
    secure_id = record(ingest, project, events, errors=[page_error("boom")])
    wait_for_processing(api_server)

    session = get_json(api, f"/api/v1/sessions/{secure_id}")
    summary = session["summary"]
    assert session["status"] == "processed"
    assert (session["secure_id"], session["project_id"]) == (secure_id, project.id)
    assert summary["active_ms"] == 8000 + 1000
    assert summary["length_ms"] == 39_000
    assert (summary["started_at"], summary["ended_at"]) == (T0, T0 + 39_000)
    assert summary["pages_visited"] == 2
    assert (summary["landing_page"], summary["exit_page"]) == (f"{APP}/", f"{APP}/cart")
    assert summary["click_count"] == 2
    assert (summary["event_count"], summary["payload_count"], summary["error_count"]) == (9, 1, 1)
    assert summary["details"]["intervals"] == [
        {"start": T0, "end": T0 + 8000, "active": True},
        {"start": T0 + 8000, "end": T0 + 38_000, "active": False},
        {"start": T0 + 38_000, "end": T0 + 39_000, "active": True},
    ]
    # The list shows the same summary without the details.
    listed = get_json(api, "/api/v1/sessions", project=str(project.id))["sessions"]
    assert [s["secure_id"] for s in listed] == [secure_id]
    assert listed[0]["summary"] == {k: v for k, v in summary.items() if k != "details"}


def test_a_session_shows_its_user_and_properties_grouped_by_kind(
    api: httpx.Client, ingest: httpx.Client, api_server: Server
) -> None:
    project = new_project(api_server, "properties")
    secure_id = record(ingest, project, active_for(1), environment="production")
    identify(ingest, secure_id, "ada@example.com", {"plan": "pro", "seats": 3})
    mutate_ok(
        ingest,
        PROPERTIES_DOC,
        {"session_secure_id": secure_id, "properties_object": {"referrer": "https://ref.example/"}},
    )
    mutate_ok(
        ingest, TRACK_DOC, {"session_secure_id": secure_id, "properties_object": {"cart": "full"}}
    )
    session = get_json(api, f"/api/v1/sessions/{secure_id}")
    assert session["user"] == {
        "identifier": "ada@example.com",
        "email": "ada@example.com",
        "properties": {"plan": "pro", "seats": 3},
    }
    assert session["environment"] == "production"
    assert (session["app_version"], session["service_name"], session["client_version"]) == (
        "1.2.3",
        "tests",
        "10.7.5",
    )
    assert session["client_id"] == f"client-{secure_id}"
    assert session["properties"] == {
        "user": {
            "identifier": ["ada@example.com"],
            "email": ["ada@example.com"],
            "plan": ["pro"],
            "seats": ["3"],
        },
        "session": {"referrer": ["https://ref.example/"]},
        "track": {"cart": ["full"]},
    }


def test_an_unknown_session_is_404_on_every_read(api: httpx.Client) -> None:
    for suffix in ("", "/events", "/console", "/network", "/errors", "/track", "/feedback"):
        assert_error_response(api.get(f"/api/v1/sessions/no-such-session{suffix}"), 404)
    assert_error_response(api.delete("/api/v1/sessions/no-such-session"), 404)


# -- events and timelines --------------------------------------------------------------------


def test_events_are_one_streamed_array_in_payload_id_order(
    api: httpx.Client, ingest: httpx.Client, api_server: Server
) -> None:
    project = new_project(api_server, "events")
    secure_id = init_session(ingest, project=str(project.id))
    # 40 payloads (more than the store reads at once), each with its own events, one empty;
    # pushed in a shuffled order: the array follows payload ids, not arrival.
    payloads: dict[int, list[dict[str, Any]]] = {
        payload_id: [mouse_move(T0 + payload_id * 100), click(T0 + payload_id * 100 + 1)]
        for payload_id in range(1, 41)
    }
    payloads[1] = [meta(T0), full_snapshot(T0)]
    payloads[17] = []
    order = list(payloads)
    random.Random(7).shuffle(order)
    for payload_id in order:
        push_ok(ingest, secure_id, payload_id, make_payload(events=payloads[payload_id]))

    with api.stream("GET", f"/api/v1/sessions/{secure_id}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert "content-length" not in response.headers
        assert response.headers["transfer-encoding"] == "chunked"
        body = response.read()
    expected = [event for payload_id in sorted(payloads) for event in payloads[payload_id]]
    assert json.loads(body) == expected
    assert len(expected) == 2 + 38 * 2


def test_a_session_without_events_streams_an_empty_array(
    api: httpx.Client, ingest: httpx.Client, api_server: Server
) -> None:
    project = new_project(api_server, "no events")
    secure_id = init_session(ingest, project=str(project.id))
    response = api.get(f"/api/v1/sessions/{secure_id}/events")
    assert (response.status_code, response.json()) == (200, [])


def test_timelines_return_what_was_pushed(
    api: httpx.Client, ingest: httpx.Client, api_server: Server
) -> None:
    project = new_project(api_server, "timelines")
    frame = {"fileName": f"{APP}/app.js", "functionName": "g", "lineNumber": 3, "columnNumber": 1}
    messages = [
        {"type": "warn", "trace": [frame], "value": ["low stock", 3], "time": T0 + 100,
         "attributes": '{"sku": "A1"}'},
        {"type": "log", "trace": [], "value": ["ready"], "time": T0 + 50, "attributes": "{}"},
    ]  # fmt: skip
    resources = [
        {
            "name": f"{APP}/api/cart",
            "initiatorType": "fetch",
            "startTimeAbs": T0 + 200,
            "responseEndAbs": T0 + 260.5,
            "transferSize": 512,
            "requestResponsePairs": {
                "request": {"verb": "POST", "url": f"{APP}/api/cart",
                            "headers": {"content-type": "application/json"}, "body": '{"qty":1}'},
                "response": {"status": 201, "headers": {"x-id": "7"}, "body": '{"ok":true}',
                             "size": 11},
            },
        }
    ]  # fmt: skip
    sockets = [
        {"socketId": "s1", "type": "open", "name": "wss://app.example/live", "timeStamp": T0 + 300,
         "size": 0},
        {"socketId": "s1", "type": "received", "name": "wss://app.example/live",
         "timeStamp": T0 + 400, "size": 5, "message": "hello"},
    ]  # fmt: skip
    secure_id = init_session(ingest, project=str(project.id))
    payload = make_payload(
        events=[meta(T0), full_snapshot(T0), track_event(T0 + 500, "checkout", total=3)],
        messages=messages,
        resources=resources,
        errors=[page_error("boom", line=12, function="pay")],
        web_socket_events=json.dumps({"webSocketEvents": sockets}),
    )
    push_ok(ingest, secure_id, 1, payload)
    mutate_ok(
        ingest, TRACK_DOC, {"session_secure_id": secure_id, "properties_object": {"cart": "full"}}
    )
    mutate_ok(
        ingest,
        FEEDBACK_DOC,
        {
            "session_secure_id": secure_id,
            "verbatim": "checkout was slow",
            "timestamp": "2026-11-26T03:41:22.973Z",
            "user_name": "Ada",
            "user_email": "ada@example.com",
        },
    )
    wait_for_processing(api_server)
    base = f"/api/v1/sessions/{secure_id}"

    assert get_json(api, f"{base}/console") == {
        "console": [
            {"timestamp": T0 + 50, "level": "log", "message": "ready", "trace": [],
             "attributes": {}, "source": "payload"},
            {"timestamp": T0 + 100, "level": "warn", "message": "low stock 3",
             "trace": [{"file_name": f"{APP}/app.js", "function_name": "g", "line_number": 3,
                        "column_number": 1, "source": None}],
             "attributes": {"sku": "A1"}, "source": "payload"},
        ],
        "next_cursor": None,
    }  # fmt: skip
    assert get_json(api, f"{base}/network") == {
        "network": [
            {"start": T0 + 200, "end": T0 + 260.5, "method": "POST", "url": f"{APP}/api/cart",
             "status": 201, "initiator": "fetch",
             "request": {"headers": {"content-type": "application/json"}, "body": '{"qty":1}'},
             "response": {"headers": {"x-id": "7"}, "body": '{"ok":true}', "size": 11},
             "transfer_size": 512, "trace_id": None, "span_id": None, "source": "payload"},
        ],
        "websocket": [
            {"timestamp": T0 + 300, "socket_id": "s1", "type": "open",
             "name": "wss://app.example/live", "size": 0, "message": None},
            {"timestamp": T0 + 400, "socket_id": "s1", "type": "received",
             "name": "wss://app.example/live", "size": 5, "message": "hello"},
        ],
        "next_cursor": None,
    }  # fmt: skip
    errors = get_json(api, f"{base}/errors")["errors"]
    assert len(errors) == 1
    error = errors[0]
    assert (error["session_secure_id"], error["project_id"]) == (secure_id, project.id)
    assert (error["type"], error["message"], error["url"], error["source"]) == (
        "window.onerror",
        "boom",
        f"{APP}/",
        "payload",
    )
    assert error["timestamp"] == 1_795_664_481_546  # 2026-11-26T03:41:21.546Z
    assert error["frames"] == [
        {"file_name": f"{APP}/app.js", "function_name": "pay", "line_number": 12,
         "column_number": 5, "source": None}
    ]  # fmt: skip
    assert len(error["fingerprint"]) == 16
    assert get_json(api, f"{base}/track") == {
        "events": [{"timestamp": T0 + 500, "name": "checkout", "properties": {"total": 3}}],
        "properties": {"cart": ["full"]},
        "properties_complete": True,
        "next_cursor": None,
    }
    assert get_json(api, f"{base}/feedback") == {
        "feedback": [
            {"verbatim": "checkout was slow", "timestamp": 1_795_664_482_973, "user_name": "Ada",
             "user_email": "ada@example.com"}
        ],
        "next_cursor": None,
    }  # fmt: skip


# -- deletion and export ---------------------------------------------------------------------


def test_deleting_a_session_removes_it_from_every_read(
    api: httpx.Client, ingest: httpx.Client, api_server: Server
) -> None:
    project = new_project(api_server, "deletion")
    doomed = record(ingest, project, active_for(2), errors=[page_error("boom 1")])
    kept = record(ingest, project, active_for(2), errors=[page_error("boom 2")])
    push_backend_errors(ingest, project, [backend_error("db down", doomed)])
    wait_for_processing(api_server)
    groups = get_json(api, "/api/v1/error-groups", project=str(project.id))["error_groups"]
    boom = next(g for g in groups if g["type"] == "window.onerror")
    assert (boom["count"], boom["sessions"]) == (2, 2)

    response = api.delete(f"/api/v1/sessions/{doomed}")
    assert (response.status_code, response.content) == (204, b"")

    for suffix in ("", "/events", "/console", "/errors"):
        assert_error_response(api.get(f"/api/v1/sessions/{doomed}{suffix}"), 404, doomed)
    assert_error_response(api.delete(f"/api/v1/sessions/{doomed}"), 404)
    assert session_ids(api, project=str(project.id)) == {kept}
    groups = get_json(api, "/api/v1/error-groups", project=str(project.id))["error_groups"]
    assert [(g["type"], g["count"], g["sessions"]) for g in groups] == [("window.onerror", 1, 1)]
    errors = get_json(api, "/api/v1/errors", project=str(project.id))["errors"]
    assert [e["session_secure_id"] for e in errors] == [kept]
    assert read_session(api_server.data_dir, doomed) is None
    assert read_session(api_server.data_dir, kept) is not None


def test_footlight_session_delete_does_the_same(
    api: httpx.Client, ingest: httpx.Client, api_server: Server
) -> None:
    project = new_project(api_server, "cli deletion")
    secure_id = record(ingest, project, active_for(2), errors=[page_error("boom")])
    wait_for_processing(api_server)
    fingerprint = get_json(api, f"/api/v1/sessions/{secure_id}/errors")["errors"][0]["fingerprint"]

    done = footlight(api_server, "session", "delete", secure_id)
    assert done.returncode == 0, done.stderr
    assert secure_id in done.stdout

    assert_error_response(api.get(f"/api/v1/sessions/{secure_id}"), 404)
    assert_error_response(api.get(f"/api/v1/sessions/{secure_id}/events"), 404)
    assert session_ids(api, project=str(project.id)) == set()
    assert get_json(api, "/api/v1/error-groups", project=str(project.id))["error_groups"] == []
    group = api.get(f"/api/v1/error-groups/{fingerprint}", params={"project": str(project.id)})
    assert_error_response(group, 404, fingerprint)


def test_footlight_session_delete_of_an_unknown_session_exits_2(api_server: Server) -> None:
    done = footlight(api_server, "session", "delete", "no-such-session")
    assert done.returncode == 2
    assert "no session 'no-such-session'" in done.stderr
    assert done.stdout == ""


def test_footlight_export_writes_exactly_the_apis_events(
    api: httpx.Client, ingest: httpx.Client, api_server: Server, tmp_path: Path
) -> None:
    project = new_project(api_server, "export")
    secure_id = init_session(ingest, project=str(project.id))
    for payload_id in (3, 1, 2):
        push_ok(ingest, secure_id, payload_id, make_payload(events=active_for(payload_id)))
    target = tmp_path / "session.json"

    done = footlight(api_server, "export", secure_id, "-o", str(target))
    assert done.returncode == 0, done.stderr
    served = api.get(f"/api/v1/sessions/{secure_id}/events")
    assert target.read_bytes() == served.content
    assert json.loads(target.read_bytes()) == active_for(1) + active_for(2) + active_for(3)
    assert f"exporting {secure_id}: 100%" in done.stderr
    assert "exported 3 payloads" in done.stderr
    assert str(target) in done.stderr
    assert done.stdout == ""


def test_footlight_export_of_an_unknown_session_exits_2(api_server: Server, tmp_path: Path) -> None:
    target = tmp_path / "nothing.json"
    done = footlight(api_server, "export", "no-such-session", "-o", str(target))
    assert done.returncode == 2
    assert "no session 'no-such-session'" in done.stderr
    assert not target.exists()


def test_footlight_export_to_an_unwritable_place_is_a_one_line_error(
    ingest: httpx.Client, api_server: Server, tmp_path: Path
) -> None:
    project = new_project(api_server, "export-nowhere")
    secure_id = init_session(ingest, project=str(project.id))
    push_ok(ingest, secure_id, 1, make_payload(events=active_for(1)))
    done = footlight(api_server, "export", secure_id, "-o", str(tmp_path / "no-dir" / "x.json"))
    assert done.returncode == 2
    assert "No such file or directory" in done.stderr
    assert "Traceback" not in done.stderr


def test_footlight_export_into_a_closed_pipe_stops_quietly(
    ingest: httpx.Client, api_server: Server
) -> None:
    project = new_project(api_server, "export-pipe")
    secure_id = init_session(ingest, project=str(project.id))
    for payload_id in range(1, 9):  # ~1 MB of events: more than a pipe holds
        push_ok(ingest, secure_id, payload_id, make_payload(events=active_for(120 * payload_id)))
    command = " ".join(
        shlex.quote(part)
        for part in [sys.executable, "-m", "footlight", "export", secure_id, *api_server.store_args]
    )
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command} | head -c 100 > /dev/null"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in done.stderr
    assert "Broken pipe" not in done.stderr
    assert done.returncode == 1
