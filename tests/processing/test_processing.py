"""Processing in a running server: stored input becomes summaries, timelines and errors, the
same rows however often (or however interrupted) it runs.

Servers here use a short inactivity period so sessions are processed a moment after their
last input; tests wait for the queue to drain rather than for fixed times.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from footlight.store.base import ErrorView, SessionView
from tests.helpers.graphql import gql, init_session, make_payload, meta_event, new_secure_id, push
from tests.helpers.inspection import (
    session_console,
    session_network,
    session_tracks,
    session_websocket,
)
from tests.helpers.paths import FIXTURES
from tests.helpers.servers import QUICK_PROCESSING as QUICK
from tests.helpers.servers import Server, http_client, start_server
from tests.helpers.store import db_rows, with_store
from tests.helpers.waiting import wait_for_processing

IDENTIFY = (FIXTURES / "documents" / "identifySession.graphql").read_text()


def console_of(server: Server, secure_id: str) -> list[str]:
    found = with_store(server.data_dir, lambda store: session_console(store, secure_id))
    return [m.message for m in found]


def errors_of(server: Server, secure_id: str) -> list[ErrorView]:
    return with_store(
        server.data_dir, lambda store: store.errors(None, session_secure_id=secure_id, limit=1000)
    )


def view(server: Server, secure_id: str) -> SessionView:
    found = with_store(server.data_dir, lambda store: store.session_view(secure_id))
    assert found is not None
    return found


@pytest.fixture
def quick_client(quick: Server) -> Iterator[httpx.Client]:
    with http_client(base_url=quick.url, timeout=30) as c:
        yield c


def console(text: str, time_ms: int) -> dict[str, Any]:
    return {"type": "log", "value": [text], "time": time_ms, "trace": [], "attributes": "{}"}


def error(message: str, line: int = 10) -> dict[str, Any]:
    return {
        "event": json.dumps([message]),
        "type": "console.error",
        "url": "https://app.example/",
        "source": "app.js",
        "lineNumber": line,
        "columnNumber": 5,
        "stackTrace": [
            {
                "fileName": "https://app.example/app.js",
                "functionName": "pay",
                "lineNumber": line,
                "columnNumber": 5,
            }
        ],
        "timestamp": "2026-11-26T03:41:21.546Z",
    }


def session_events(t0: int) -> list[dict[str, Any]]:
    """Meta, snapshot, activity every 2 s for 8 s, a navigation and a Track event."""
    events = [
        meta_event(ts=t0),
        {
            "type": 2,
            "data": {
                "node": {"type": 0, "childNodes": [], "id": 1},
                "initialOffset": {"left": 0, "top": 0},
            },
            "timestamp": t0 + 10,
        },
    ]
    for i in range(5):
        events.append(
            {
                "type": 3,
                "data": {"source": 2, "type": 2, "id": 1, "x": 5, "y": 5},
                "timestamp": t0 + 10 + i * 2000,
            }
        )
    events.append(
        {
            "type": 5,
            "data": {"tag": "Navigate", "payload": "https://app.example/cart"},
            "timestamp": t0 + 8100,
        }
    )
    events.append(
        {
            "type": 5,
            "data": {"tag": "Track", "payload": '{"event":"checkout","total":3}'},
            "timestamp": t0 + 8200,
        }
    )
    return events


def test_a_session_is_summarised_with_its_timelines(
    quick: Server, quick_client: httpx.Client
) -> None:
    secure_id = init_session(quick_client)
    t0 = 1_795_664_479_000
    push(
        quick_client,
        secure_id,
        1,
        make_payload(
            events=session_events(t0),
            messages=[console("hello", t0 + 100), console("world", t0 + 200)],
            errors=[error("card declined")],
        ),
    )
    wait_for_processing(quick)
    session = view(quick, secure_id)
    assert not session.processing
    summary = session.summary
    assert summary is not None
    assert (summary.length_ms, summary.active_ms) == (8000, 8000)  # snapshot t0+10 → last click
    assert summary.click_count == 5
    assert summary.pages_visited == 2
    assert (summary.landing_page, summary.exit_page) == (
        "https://app.example/",
        "https://app.example/cart",
    )
    assert (summary.error_count, summary.console_count) == (1, 2)
    messages = with_store(quick.data_dir, lambda s: session_console(s, secure_id))
    assert [m.message for m in messages] == ["hello", "world"]
    tracks = with_store(quick.data_dir, lambda s: session_tracks(s, secure_id))
    assert [(t.name, t.properties) for t in tracks] == [("checkout", {"total": 3})]
    errors = with_store(quick.data_dir, lambda s: s.errors(None, session_secure_id=secure_id))
    assert [(e.error.type, e.error.message) for e in errors] == [("console.error", "card declined")]


def test_more_input_reopens_a_session_and_reprocessing_adds_nothing_twice(
    tmp_path: Path, backend: str
) -> None:
    # Sessions fall due here only when the test makes them (an hour of inactivity, then
    # their queue row made due, which the server finds by polling): re-opened is then a state
    # to look at, not a moment of `QUICK`'s 0.2 s to catch before processing ends it.
    env = {
        "FOOTLIGHT_SESSION_INACTIVITY_SECONDS": "3600",
        "FOOTLIGHT_PROCESSING_POLL_SECONDS": "0.05",
    }
    server = start_server(tmp_path / "data", env=env, backend=backend)

    def process_now() -> None:
        db_rows(server.data_dir, "UPDATE processing_queue SET due_at = 0")
        wait_for_processing(server)

    try:
        with http_client(base_url=server.url, timeout=30) as client:
            secure_id = init_session(client)
            push(client, secure_id, 1, make_payload(messages=[console("first", 1)]))
            process_now()
            first = view(server, secure_id)
            assert first.summary is not None
            assert not first.processing
            push(client, secure_id, 2, make_payload(messages=[console("second", 2)]))
            assert view(server, secure_id).processing, "new input re-opens the session"
            process_now()
        again = view(server, secure_id)
        assert again.processed_at is not None
        assert first.processed_at is not None
        assert again.processed_at > first.processed_at
        assert console_of(server, secure_id) == ["first", "second"]
    finally:
        server.stop()


def test_identify_backfills_the_clients_earlier_anonymous_sessions(
    quick: Server, quick_client: httpx.Client
) -> None:
    client_id = "client-" + new_secure_id()
    earlier = init_session(quick_client, client_id=client_id)
    push(quick_client, earlier, 1, make_payload())
    later = init_session(quick_client, client_id=client_id)
    gql(
        quick_client,
        IDENTIFY,
        {
            "session_secure_id": later,
            "user_identifier": "ada@example.com",
            "user_object": {"plan": "pro"},
        },
    )
    wait_for_processing(quick)
    backfilled = view(quick, earlier)
    assert (backfilled.identifier, backfilled.email) == ("ada@example.com", "ada@example.com")
    stranger = init_session(quick_client)
    wait_for_processing(quick)
    assert view(quick, stranger).identifier is None


def _otlp_export(secure_id: str) -> dict[str, Any]:
    """An OTLP/JSON export like the LaunchDarkly SDK's: network, an exception, a console log."""

    def attr(key: str, value: Any) -> dict[str, Any]:
        kind = "intValue" if isinstance(value, int) else "stringValue"
        return {"key": key, "value": {kind: value}}

    session = attr("highlight.session_id", secure_id)
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [attr("service.name", "ld-app")]},
                "scopeSpans": [
                    {
                        "scope": {"name": "@opentelemetry/instrumentation-fetch"},
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "HTTP GET",
                                "kind": 3,
                                "startTimeUnixNano": "1795664480000000000",
                                "endTimeUnixNano": "1795664480050000000",
                                "attributes": [
                                    session,
                                    attr("http.method", "GET"),
                                    attr("http.url", "https://api.example/cart"),
                                    attr("http.status_code", 503),
                                ],
                            },
                            {
                                "traceId": "5b8efff798038103d269b633813fc60d",
                                "spanId": "eee19b7ec3c1b175",
                                "name": "error",
                                "kind": 1,
                                "startTimeUnixNano": "1795664481000000000",
                                "endTimeUnixNano": "1795664481000000000",
                                "attributes": [session],
                                "events": [
                                    {
                                        "name": "exception",
                                        "timeUnixNano": "1795664481000000000",
                                        "attributes": [
                                            attr("exception.type", "TypeError"),
                                            attr("exception.message", "x is undefined"),
                                            attr(
                                                "exception.stacktrace",
                                                "TypeError: x is undefined\n    at pay (https://app.example/app.js:10:5)",
                                            ),
                                        ],
                                    }
                                ],
                            },
                        ],
                    }
                ],
            }
        ]
    }


def test_otlp_feeds_network_errors_and_console_of_its_session(
    quick: Server, quick_client: httpx.Client
) -> None:
    secure_id = init_session(quick_client)
    traces = quick_client.post("/v1/traces", json=_otlp_export(secure_id))
    assert traces.status_code == 200
    logs = quick_client.post(
        "/v1/logs",
        json={
            "resourceLogs": [
                {
                    "scopeLogs": [
                        {
                            "logRecords": [
                                {
                                    "timeUnixNano": "1795664482000000000",
                                    "severityText": "WARN",
                                    "body": {"stringValue": "low stock"},
                                    "attributes": [
                                        {
                                            "key": "highlight.session_id",
                                            "value": {"stringValue": secure_id},
                                        }
                                    ],
                                }
                            ]
                        }
                    ]
                }
            ]
        },
    )
    assert logs.status_code == 200
    wait_for_processing(quick)
    network = with_store(quick.data_dir, lambda s: session_network(s, secure_id))
    assert [(n.method, n.url, n.status, n.source) for n in network] == [
        ("GET", "https://api.example/cart", 503, "otlp")
    ]
    errors = with_store(quick.data_dir, lambda s: s.errors(None, session_secure_id=secure_id))
    assert [(e.error.type, e.error.message, e.project_id) for e in errors] == [
        ("TypeError", "x is undefined", 1)
    ]
    assert errors[0].error.frames[0].function_name == "pay"
    messages = with_store(quick.data_dir, lambda s: session_console(s, secure_id))
    # No browser resource: a backend's log line, in the console marked so, and in the logs.
    assert [(m.level, m.message, m.source) for m in messages] == [("warn", "low stock", "backend")]
    logged = db_rows(
        quick.data_dir,
        "SELECT level, message, project_id FROM logs WHERE session_secure_id = ?",
        (secure_id,),
    )
    assert logged == [("warn", "low stock", 1)]
    spans = db_rows(
        quick.data_dir, "SELECT count(*) FROM spans WHERE session_secure_id = ?", (secure_id,)
    )
    assert spans == [(2,)]


HUGE = "1" * 401  # a JSON integer float() overflows on


def test_numbers_out_of_range_are_skipped_not_fatal(
    quick: Server, quick_client: httpx.Client
) -> None:
    secure_id = init_session(quick_client)
    t0 = 1_795_664_479_000
    payload = make_payload(messages=[console("kept", t0)])
    # Hand-written JSON: these numbers have no Python float, so no encoder writes them.
    payload["messages"] = (
        f'{{"messages":[{{"type":"log","value":["huge"],"time":{HUGE}}},'
        f'{{"type":"log","value":["kept"],"time":{t0}}}]}}'
    )
    payload["resources"] = (
        f'{{"resources":[{{"name":"https://a.example/huge","startTime":{HUGE}}},'
        f'{{"name":"https://a.example/big","startTimeAbs":{t0},"transferSize":1e300}}]}}'
    )
    payload["web_socket_events"] = (
        f'{{"webSocketEvents":[{{"socketId":"1","type":"open","name":"w","timeStamp":{HUGE}}},'
        f'{{"socketId":"2","type":"open","name":"w","timeStamp":{t0},"size":1e300}}]}}'
    )
    assert push(quick_client, secure_id, 1, payload).status_code == 200
    wait_for_processing(quick)
    assert console_of(quick, secure_id) == ["kept"]
    network = with_store(quick.data_dir, lambda s: session_network(s, secure_id))
    assert [(n.url, n.transfer_size) for n in network] == [("https://a.example/big", None)]
    sockets = with_store(quick.data_dir, lambda s: session_websocket(s, secure_id))
    assert [(w.socket_id, w.size) for w in sockets] == [("2", None)]


def test_otlp_values_no_store_can_hold_are_left_out(
    quick: Server, quick_client: httpx.Client
) -> None:
    secure_id = init_session(quick_client)
    session = {"key": "highlight.session_id", "value": {"stringValue": secure_id}}

    def fetch(span_id: str, status: dict[str, Any], size: dict[str, Any]) -> dict[str, Any]:
        return {
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": span_id,
            "name": "HTTP GET",
            "kind": 3,
            "startTimeUnixNano": "1795664480000000000",
            "attributes": [
                session,
                {"key": "http.method", "value": {"stringValue": "GET"}},
                {"key": "http.url", "value": {"stringValue": f"https://a.example/{span_id}"}},
                {"key": "http.status_code", "value": status},
                {"key": "http.response_content_length", "value": size},
            ],
        }

    spans = [
        fetch("00000000000000a1", {"doubleValue": 1e300}, {"stringValue": "1" * 5000}),
        fetch("00000000000000a2", {"stringValue": "²"}, {"stringValue": " 512 "}),
    ]
    traces = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    assert quick_client.post("/v1/traces", json=traces).status_code == 200

    def point(value: Any) -> dict[str, Any]:
        return {"timeUnixNano": "1795664480000000000", "asDouble": value, "attributes": [session]}

    gauge = {"dataPoints": [point("NaN"), point("Infinity"), point(0.25)]}
    metrics = {
        "resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "cls", "gauge": gauge}]}]}]
    }
    assert quick_client.post("/v1/metrics", json=metrics).status_code == 200
    wait_for_processing(quick)
    network = with_store(quick.data_dir, lambda s: session_network(s, secure_id))
    assert sorted((n.url, n.status, n.transfer_size) for n in network) == [
        ("https://a.example/00000000000000a1", None, None),
        ("https://a.example/00000000000000a2", None, 512),
    ]
    stored = db_rows(
        quick.data_dir,
        "SELECT name, value FROM otlp_metrics WHERE session_secure_id = ?",
        (secure_id,),
    )
    assert stored == [("cls", 0.25)]


def test_an_unreadable_stored_payload_does_not_stop_processing(
    quick: Server, quick_client: httpx.Client
) -> None:
    secure_id = init_session(quick_client)
    push(quick_client, secure_id, 1, make_payload(messages=[console("kept", 1)]))
    wait_for_processing(quick)
    # Damage one stored payload on disk, as a bug in an older version might have.
    db_rows(
        quick.data_dir,
        "INSERT INTO payloads (session_id, payload_id, digest, source, received_at,"
        " event_count, has_full_snapshot, body) SELECT id, 0, ?, 'compressed', 0, 0, 0, ?"
        " FROM sessions WHERE secure_id = ?",
        (b"\x00", b"\x1f\x8b\x00\x00", secure_id),
    )
    push(quick_client, secure_id, 2, make_payload(messages=[console("also kept", 2)]))
    wait_for_processing(quick)
    messages = with_store(quick.data_dir, lambda s: session_console(s, secure_id))
    assert [m.message for m in messages] == ["kept", "also kept"]
    assert "unreadable" in quick.log()


# -- a crash mid-way ---------------------------------------------------------------------------


def _heavy_payload(index: int) -> dict[str, Any]:
    t = 1_795_664_479_000 + index * 1000
    moves = [
        {
            "type": 3,
            "data": {"source": 1, "positions": [{"x": i, "y": i, "id": 1, "timeOffset": 0}]},
            "timestamp": t + i,
        }
        for i in range(400)
    ]
    return make_payload(
        events=[meta_event(ts=t), *moves],
        messages=[console(f"m{index}", t)],
        errors=[error(f"e{index}")],
    )


def _leased(data_dir: Path) -> bool:
    query = "SELECT count(*) FROM processing_queue WHERE lease_owner IS NOT NULL"
    return bool(db_rows(data_dir, query)[0][0])


def test_a_crash_mid_processing_loses_and_doubles_nothing(tmp_path: Path, backend: str) -> None:
    # The killed runs' jobs fall due again once their leases and back-offs pass, which no
    # signal announces: a short poll finds them soon after.
    env = {
        **QUICK,
        "FOOTLIGHT_PROCESSING_LEASE_SECONDS": "1",
        "FOOTLIGHT_PROCESSING_POLL_SECONDS": "0.1",
    }
    server = start_server(
        tmp_path / "data", env={"FOOTLIGHT_SESSION_INACTIVITY_SECONDS": "3600"}, backend=backend
    )
    payloads = 60
    try:
        with http_client(base_url=server.url, timeout=30) as client:
            sessions = [init_session(client) for _ in range(3)]
            for secure_id in sessions:
                for i in range(payloads):
                    assert push(client, secure_id, i, _heavy_payload(i)).status_code == 200
    finally:
        server.stop()
    # As if the hour of inactivity had passed: the sessions are due now.
    db_rows(tmp_path / "data", "UPDATE processing_queue SET due_at = 0")
    # Restart, and kill the server while it holds a job.
    crashed = False
    for _ in range(20):
        server = start_server(tmp_path / "data", env=env, backend=backend)
        deadline = time.monotonic() + 10
        while not _leased(server.data_dir) and time.monotonic() < deadline:
            time.sleep(0.005)
        server.kill()
        if _leased(server.data_dir):
            crashed = True
            break
    assert crashed, "never caught processing mid-way"
    restarted = start_server(tmp_path / "data", env=env, backend=backend)
    try:
        wait_for_processing(restarted)
        for secure_id in sessions:
            summary = view(restarted, secure_id).summary
            assert summary is not None
            assert (summary.payload_count, summary.console_count, summary.error_count) == (
                payloads,
                payloads,
                payloads,
            )
            messages = console_of(restarted, secure_id)
            assert sorted(messages) == sorted(f"m{i}" for i in range(payloads))
            assert len(errors_of(restarted, secure_id)) == payloads
    finally:
        restarted.stop()


# -- retention ---------------------------------------------------------------------------------


def test_retention_deletes_old_sessions_of_limited_projects_only(
    tmp_path: Path, backend: str
) -> None:
    server = start_server(tmp_path / "data", env=QUICK, backend=backend)
    try:
        limited = with_store(server.data_dir, lambda s: s.create_project("limited")).id
        with_store(server.data_dir, lambda s: s.set_retention(limited, 7))
        with http_client(base_url=server.url, timeout=30) as client:
            kept = init_session(client)  # project 1: kept forever
            doomed = init_session(client, project=str(limited))
            push(client, doomed, 1, make_payload(messages=[console("bye", 1)], errors=[error("x")]))
        wait_for_processing(server)
        day = 86_400_000
        in_six_days = int(time.time() * 1000) + 6 * day
        assert with_store(server.data_dir, lambda s: s.purge_expired(in_six_days)).sessions == 0
        in_eight_days = in_six_days + 2 * day
        purged = with_store(server.data_dir, lambda s: s.purge_expired(in_eight_days))
        assert purged.sessions == 1
        assert with_store(server.data_dir, lambda s: s.session_view(doomed)) is None
        assert with_store(server.data_dir, lambda s: session_console(s, doomed)) == []
        assert with_store(server.data_dir, lambda s: s.errors(None, session_secure_id=doomed)) == []
        assert with_store(server.data_dir, lambda s: s.session_view(kept)) is not None
        left = db_rows(
            server.data_dir,
            "SELECT count(*) FROM payloads p JOIN sessions s ON s.id = p.session_id"
            " WHERE s.secure_id = ?",
            (doomed,),
        )
        assert left == [(0,)]
    finally:
        server.stop()
