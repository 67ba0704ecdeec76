"""Processing stays bounded whatever a stranger pushes (both engines, real servers).

* A session of many large-but-allowed pushes is processed a payload at a time: the server's
  peak RSS (VmHWM) stays under a stated bound, and the numbers are right.
* A push with more events than `max_events_per_payload` is refused at ingest.
* Derived rows are capped per kind and in bytes per session, their text cut with markers;
  what is not kept is counted in the summary.
* Error times no calendar can show (`9999-12-31T23:59:59-14:00`) are stored as the
  payload's time.

Sessions are pushed to a server whose sessions only become due after an hour, then made due
by hand and processed by a fresh server: its VmHWM is then what processing cost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.graphql import error_codes, gql, init_session, make_payload, meta_event, push
from tests.helpers.inspection import session_console, session_network, session_tracks
from tests.helpers.processing_load import EVENTS, LATER, T0, moves, now_ms, view
from tests.helpers.servers import QUICK_PROCESSING as QUICK
from tests.helpers.servers import Server, http_client, start_server
from tests.helpers.store import db_rows, with_store
from tests.helpers.waiting import wait_for_processing


def console_flood(t: int, count: int) -> dict[str, Any]:
    """A push of `count` tiny console messages."""
    messages = [{"type": "log", "value": [f"m{i}"], "time": t + i} for i in range(count)]
    return make_payload(events=[meta_event(ts=t)], messages=messages)


def peak_rss_mb(server: Server) -> float:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


# -- memory ------------------------------------------------------------------------------------

PUSHES = 6  # 600,000 events: held whole they would take ~150 MB, past the bound
FLOODS = 2
RSS_BOUND_MB = 120


def test_a_session_of_large_pushes_is_processed_in_bounded_memory(
    tmp_path: Path, backend: str
) -> None:
    """1,000,000 events and 200,000 console messages in one session, every push as eventful
    as allowed. Processing the whole session at once cost ~300 B per event and per console
    message (~450 MB here); a payload at a time, it costs one payload (here 4.6 MB of JSON
    and 100,000 events, ~25 MB) plus what the limits allow to accumulate (500,000 activity
    facts of 8-40 bytes; 5,000 rows of each kind within 16 MiB). The bound, 120 MB above
    the idle server's peak, leaves room for allocator slack."""
    server = start_server(tmp_path / "data", env=LATER, backend=backend)
    try:
        with http_client(base_url=server.url, timeout=120) as client:
            secure_id = init_session(client)
            for i in range(PUSHES):
                data = moves(T0 + i * EVENTS, EVENTS, snapshot=i == 0)
                assert push(client, secure_id, i, data).json() == {
                    "data": {"pushSessionEvents": None}
                }
            for i in range(FLOODS):
                flood = console_flood(T0 + i * EVENTS, EVENTS - 1)
                assert "errors" not in push(client, secure_id, PUSHES + i, flood).json()
    finally:
        server.stop()
    db_rows(tmp_path / "data", "UPDATE processing_queue SET due_at = 0")
    server = start_server(tmp_path / "data", env=LATER, backend=backend)
    try:
        idle = peak_rss_mb(server)
        wait_for_processing(server)
        peak = peak_rss_mb(server)
        assert peak - idle < RSS_BOUND_MB, f"processing took {peak - idle:.0f} MB above idle"
        summary = view(server, secure_id).summary
        assert summary is not None
        assert summary.event_count == PUSHES * EVENTS + FLOODS
        assert summary.payload_count == PUSHES + FLOODS
        assert summary.console_count == FLOODS * (EVENTS - 1)
        assert summary.length_ms == PUSHES * EVENTS - 1
        # Every mouse move is a user interaction; past the first 500,000 they are counted.
        assert summary.details["user_interactions"] == 500_000
        assert summary.details["activity_events_not_analysed"] == PUSHES * EVENTS - 1 - 500_000
        assert summary.details["not_kept"] == {"console": FLOODS * (EVENTS - 1) - 5_000}
        stored = db_rows(
            server.data_dir,
            "SELECT count(*) FROM console_messages WHERE session_secure_id = ?",
            (secure_id,),
        )
        assert stored == [(5_000,)]
    finally:
        server.stop()


# -- ingest refuses too eventful pushes ----------------------------------------------------------

SMALL = {**QUICK, "FOOTLIGHT_MAX_EVENTS_PER_PAYLOAD": "100"}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[Server]:
    server = start_server(
        tmp_path_factory.mktemp(f"small-{backend}") / "data", env=SMALL, backend=backend
    )
    yield server
    server.stop()


def stored_payloads(server: Server, secure_id: str) -> int:
    rows = db_rows(
        server.data_dir,
        "SELECT count(*) FROM payloads p JOIN sessions s ON s.id = p.session_id"
        " WHERE s.secure_id = ?",
        (secure_id,),
    )
    return int(rows[0][0])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            make_payload(events=[meta_event(ts=T0 + i) for i in range(101)]),
            "data holds more than 100 rrweb events (limit: max_events_per_payload)",
        ),
        (
            make_payload(messages=[{"type": "log", "value": ["x"], "time": i} for i in range(101)]),
            "messages holds more than 100 console messages (limit: max_events_per_payload)",
        ),
        (
            make_payload(resources=[{"name": "https://a.example/"}] * 101),
            "resources holds more than 100 resources (limit: max_events_per_payload)",
        ),
        (
            make_payload(errors=[{"event": "x", "type": "e", "url": "", "source": ""}] * 101),
            "data.errors holds more than 100 errors (limit: max_events_per_payload)",
        ),
    ],
)
def test_a_too_eventful_push_is_refused_whole(
    small: Server, payload: dict[str, Any], message: str
) -> None:
    with http_client(base_url=small.url, timeout=30) as client:
        secure_id = init_session(client)
        response = push(client, secure_id, 1, payload)
        assert error_codes(response) == ["PAYLOAD_TOO_LARGE"]
        assert response.json()["errors"][0]["message"].startswith(message)
        assert stored_payloads(small, secure_id) == 0
        allowed = make_payload(events=[meta_event(ts=T0 + i) for i in range(100)])
        assert "errors" not in push(client, secure_id, 2, allowed).json()
        assert stored_payloads(small, secure_id) == 1


LEGACY_PUSH = """mutation PushPayload($session_secure_id: String!, $payload_id: ID!,
  $events: ReplayEventsInput!, $messages: String!, $resources: String!,
  $web_socket_events: String!, $errors: [ErrorObjectInput]!) {
  pushPayload(session_secure_id: $session_secure_id, payload_id: $payload_id, events: $events,
    messages: $messages, resources: $resources, web_socket_events: $web_socket_events,
    errors: $errors)
}"""


def test_a_too_eventful_legacy_push_is_refused_whole(small: Server) -> None:
    with http_client(base_url=small.url, timeout=30) as client:
        secure_id = init_session(client)
        payload = make_payload(events=[meta_event(ts=T0 + i) for i in range(101)])
        del payload["is_beacon"], payload["has_session_unloaded"]
        variables = {"session_secure_id": secure_id, "payload_id": "1", **payload}
        response = gql(client, LEGACY_PUSH, variables, "PushPayload")
        assert error_codes(response) == ["PAYLOAD_TOO_LARGE"]
        assert response.json()["errors"][0]["message"].startswith(
            "events holds more than 100 rrweb events (limit: max_events_per_payload)"
        )
        assert stored_payloads(small, secure_id) == 0


# -- caps on derived rows, cut text ------------------------------------------------------------

CAPPED = {
    **QUICK,
    "FOOTLIGHT_MAX_DERIVED_ROWS_PER_SESSION": "5",
    "FOOTLIGHT_MAX_DERIVED_TEXT_CHARS": "40",
    "FOOTLIGHT_MAX_STACK_FRAMES": "3",
}


def page_error(message: str, frames: int, timestamp: str | None) -> dict[str, Any]:
    return {
        "event": json.dumps([message]),
        "type": "window.onerror",
        "url": "https://app.example/" + "p" * 100,
        "source": "app.js",
        "stackTrace": [
            {"fileName": f"https://app.example/f{i}.js", "functionName": f"fn{i}", "lineNumber": i}
            for i in range(frames)
        ],
        "timestamp": timestamp,
    }


def custom(tag: str, payload: Any, t: int) -> dict[str, Any]:
    return {"type": 5, "data": {"tag": tag, "payload": payload}, "timestamp": t}


def test_derived_rows_are_capped_per_kind_and_text_is_cut_with_a_marker(
    tmp_path: Path, backend: str
) -> None:
    server = start_server(tmp_path / "data", env=CAPPED, backend=backend)
    try:
        with http_client(base_url=server.url, timeout=30) as client:
            secure_id = init_session(client)
            long_text = "x" * 100
            track = {"event": "buy", "note": "n" * 100}
            payload = make_payload(
                events=[
                    meta_event(ts=T0),
                    *(custom("Track", json.dumps(track), T0 + i) for i in range(7)),
                ],
                messages=[
                    {"type": "log", "value": [long_text if i == 0 else f"m{i}"], "time": T0 + i}
                    for i in range(8)
                ],
                resources=[
                    {"name": f"https://api.example/{i}/" + "q" * 100, "startTimeAbs": T0 + i}
                    for i in range(6)
                ],
                errors=[page_error(f"e{i} " + long_text, 10, None) for i in range(7)],
            )
            assert "errors" not in push(client, secure_id, 1, payload).json()
        wait_for_processing(server)
        summary = view(server, secure_id).summary
        assert summary is not None
        assert (summary.console_count, summary.network_count, summary.error_count) == (8, 6, 7)
        assert summary.details["not_kept"] == {"tracks": 2, "console": 3, "network": 1, "errors": 2}
        console = with_store(server.data_dir, lambda s: session_console(s, secure_id))
        assert [m.message for m in console] == [
            "x" * 40 + "… [cut: 60 more characters]",
            "m1",
            "m2",
            "m3",
            "m4",
        ]
        network = with_store(server.data_dir, lambda s: session_network(s, secure_id))
        assert len(network) == 5
        assert network[0].url == "https://api.example/0/" + "q" * 18 + "… [cut: 82 more characters]"
        errors = with_store(server.data_dir, lambda s: s.errors(None, session_secure_id=secure_id))
        assert len(errors) == 5
        error = errors[0].error
        assert error.message.endswith("… [cut: 63 more characters]")
        assert error.url is not None
        assert error.url.endswith("p… [cut: 80 more characters]")
        assert [f.function_name for f in error.frames] == ["fn0", "fn1", "fn2", None]
        assert error.frames[-1].source == "… [cut: 7 more frames]"
        tracks = with_store(server.data_dir, lambda s: session_tracks(s, secure_id))
        assert len(tracks) == 5
        assert tracks[0].name == "buy"
        assert tracks[0].properties == {"note": "n" * 29 + "… [cut: 71 more characters]"}
    finally:
        server.stop()


def test_parts_too_large_to_decode_are_read_field_by_field_and_cut(
    tmp_path: Path, backend: str
) -> None:
    """With a 40-character text limit, a console message, resource or error of more than
    4 * 40 + 4096 bytes of JSON is not decoded whole: its small fields are read as usual and
    its large ones kept as cut text."""
    server = start_server(tmp_path / "data", env=CAPPED, backend=backend)
    try:
        with http_client(base_url=server.url, timeout=30) as client:
            secure_id = init_session(client)
            pairs = {
                "request": {"verb": "POST", "headers": {"a": "b"}, "body": "q" * 10_000},
                "response": {"status": 201, "headers": {}, "body": "r" * 10_000},
            }
            payload = make_payload(
                messages=[{"type": "warn", "value": ["w" * 10_000], "time": T0}],
                resources=[
                    {
                        "name": "https://api.example/pay",
                        "startTimeAbs": T0,
                        "requestResponsePairs": pairs,
                    }
                ],
                errors=[page_error("boom " + "z" * 10_000, 1, "2026-11-26T03:41:20Z")],
            )
            assert "errors" not in push(client, secure_id, 1, payload).json()
        wait_for_processing(server)
        [console] = with_store(server.data_dir, lambda s: session_console(s, secure_id))
        assert console.level == "warn"
        assert console.message == '["' + "w" * 38 + "… [cut: 9,964 more bytes of JSON]"
        [request] = with_store(server.data_dir, lambda s: session_network(s, secure_id))
        assert (request.method, request.status, request.url) == (
            "POST",
            201,
            "https://api.example/pay",
        )
        assert request.request is not None
        assert request.request["headers"] == {"a": "b"}
        assert request.request["body"].endswith("… [cut: 9,990 more characters]")
        [error] = with_store(server.data_dir, lambda s: s.errors(None, session_secure_id=secure_id))
        assert error.error.timestamp == T0 + 1000
        assert error.error.message.startswith('["boom zzz')
        assert error.error.message.endswith("more characters]")
        assert [f.function_name for f in error.error.frames] == ["fn0"]
    finally:
        server.stop()


def test_a_sessions_derived_rows_stop_at_its_byte_budget(tmp_path: Path, backend: str) -> None:
    env = {**QUICK, "FOOTLIGHT_MAX_DERIVED_BYTES_PER_SESSION": "20000"}
    server = start_server(tmp_path / "data", env=env, backend=backend)
    try:
        with http_client(base_url=server.url, timeout=30) as client:
            secure_id = init_session(client)
            messages = [{"type": "log", "value": ["y" * 900], "time": T0 + i} for i in range(50)]
            errors = [page_error("late", 1, None)]
            payload = make_payload(messages=messages, errors=errors)
            assert "errors" not in push(client, secure_id, 1, payload).json()
        wait_for_processing(server)
        summary = view(server, secure_id).summary
        assert summary is not None
        kept = len(with_store(server.data_dir, lambda s: session_console(s, secure_id)))
        # Each message row is ~1 KB of JSON: about 20 fit, and nothing after the budget ran
        # out (not the error either, though it is small and of another kind).
        assert 15 <= kept <= 20
        assert summary.details["not_kept"] == {"console": 50 - kept, "errors": 1}
        assert (summary.console_count, summary.error_count) == (50, 1)
    finally:
        server.stop()


# -- error times --------------------------------------------------------------------------------


def test_implausible_error_times_are_stored_as_the_payloads_time(
    tmp_path: Path, backend: str
) -> None:
    server = start_server(tmp_path / "data", env=QUICK, backend=backend)
    try:
        with http_client(base_url=server.url, timeout=30) as client:
            secure_id = init_session(client)
            stamps = [
                "9999-12-31T23:59:59-14:00",
                "0001-01-01T00:00:00+14:00",
                "2026-11-26T03:41:21.546Z",  # during the recording: kept
                "2030-01-01T00:00:00Z",  # years after the events, and the server's now
                "not a time",
                None,
            ]
            events = [meta_event(ts=T0), meta_event(ts=T0 + 5000)]
            errors = [page_error(f"e{i}", 1, stamp) for i, stamp in enumerate(stamps)]
            payload = make_payload(events=events, errors=errors)
            assert "errors" not in push(client, secure_id, 1, payload).json()
            backend_error = {
                "session_secure_id": secure_id,
                "request_id": "r",
                "event": "server exploded",
                "type": "Backend",
                "url": "/x",
                "source": "s.py",
                "stackTrace": "[]",
                # Within the Timestamp scalar's years (0001-9999 are taken, beyond them the
                # request is refused), yet centuries after it was received.
                "timestamp": "2200-01-01T00:00:00Z",
            }
            done = client.post(
                "/",
                json={
                    "query": "mutation p($errors: [BackendErrorObjectInput]!) {"
                    ' pushBackendPayload(project_id: "1", errors: $errors) }',
                    "variables": {"errors": [backend_error]},
                },
            )
            assert "errors" not in done.json(), done.text
        wait_for_processing(server)
        found = with_store(
            server.data_dir, lambda s: s.errors(None, session_secure_id=secure_id, limit=100)
        )
        times = {e.error.message: e.error.timestamp for e in found}
        last_event = T0 + 5000
        assert times == {
            "e0": last_event,
            "e1": last_event,
            "e2": 1_795_664_481_546,
            "e3": last_event,
            "e4": last_event,
            "e5": last_event,
            "server exploded": times["server exploded"],
        }
        # A backend error has no events to fall back on: when it was received.
        assert abs(times["server exploded"] - now_ms()) < 600_000
        groups = with_store(server.data_dir, lambda s: s.error_groups(None, limit=100))
        assert max(g.last_seen for g in groups) < now_ms() + 86_400_000
    finally:
        server.stop()
