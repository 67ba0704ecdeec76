"""The real highlight.run SDK (10.7.5, from npm, pinned by tests/e2e/app/package-lock.json)
records a page in Debian's headless Chromium against a real footlight, and everything it
sends is answered as it needs and stored.

The app and footlight are on different origins (localhost vs 127.0.0.1), as a site and its
ingest host are in production, so every call goes through CORS. Chromium runs without the
automation flag: the SDK records nothing when `navigator.webdriver` is true.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.helpers.cli import create_token
from tests.helpers.inspection import otlp_batches
from tests.helpers.paths import ARTIFACTS
from tests.helpers.recording import Recording, replica, secure_id_of
from tests.helpers.replay import ReplayedState, replay
from tests.helpers.sdk import REFERRER, BackendTraffic
from tests.helpers.servers import Server, http_client
from tests.helpers.store import decoded_payloads, read_session, with_store
from tests.helpers.waiting import read_api_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def recorded(
    sdk_recording: Recording, tmp_path_factory: pytest.TempPathFactory, backend: str
) -> Iterator[tuple[Server, BackendTraffic]]:
    """The SDK's recording (the e2e app, whose checkout calls the app's own backend, which
    reports to footlight with the Node SDK), on a server of this module's own."""
    server = replica(sdk_recording, tmp_path_factory.mktemp(f"e2e-{backend}") / "data")
    yield server, sdk_recording.traffic
    server.stop()


def test_sdk_saw_no_failed_request(recorded: tuple[Server, BackendTraffic]) -> None:
    _, traffic = recorded
    assert traffic.failures == []
    sdk_errors = [
        text
        for text in traffic.console_errors
        if "highlight" in text.lower() or "Failed to initialize" in text
    ]
    assert sdk_errors == []
    # graphql-request retries any answer without a truthy `data` (up to 3 times, same
    # variables); no call sent twice by one page load means the SDK accepted every answer.
    # Playwright cannot read bodies of the SDK's web-worker calls, so this is the SDK's own
    # verdict. (Page 2 legitimately repeats page 1's initializeSession and identify.)
    sent = [(c.page_load, c.operation, c.request_body) for c in traffic.calls if c.operation]
    assert len(sent) == len(set(sent)), "the SDK retried a call"
    answers = [
        json.loads(call.response_body)
        for call in traffic.calls
        if call.operation is not None and call.response_body  # main-thread calls
    ]
    assert answers, "no answer body was readable: nothing was checked"
    for body in answers:
        assert body.get("data"), body
        assert "errors" not in body, body


def test_session_is_stored_once_across_page_loads(recorded: tuple[Server, BackendTraffic]) -> None:
    server, traffic = recorded
    record = read_session(server.data_dir, secure_id_of(traffic))
    assert record is not None
    session = record.session
    assert session.project_id == 1
    assert session.environment == "e2e"
    assert session.app_version == "e2e-app-1.0.0"
    assert session.client_id
    assert session.client_version == "10.7.5"
    assert session.user_agent
    assert "HeadlessChrome" in session.user_agent
    assert json.loads(session.client_config or "")["serviceName"] == "footlight-e2e"


def test_every_acknowledged_push_is_stored(
    recorded: tuple[Server, BackendTraffic], capsys: pytest.CaptureFixture[str]
) -> None:
    server, traffic = recorded
    pushes = traffic.graphql("PushSessionEvents")
    assert len(pushes) >= 5
    sent_ids = {int(call.variables()["payload_id"]) for call in pushes}
    record = read_session(server.data_dir, secure_id_of(traffic))
    assert record is not None
    assert sorted(p.payload_id for p in record.payloads) == sorted(sent_ids)
    latencies = sorted(call.duration_ms for call in pushes)
    with capsys.disabled():
        print(
            f"\n  {len(pushes)} pushes; browser-measured push latency"
            f" p50 {statistics.median(latencies):.1f} ms, max {latencies[-1]:.1f} ms"
        )


def test_identify_properties_and_feedback_are_stored(
    recorded: tuple[Server, BackendTraffic],
) -> None:
    server, traffic = recorded
    record = read_session(server.data_dir, secure_id_of(traffic))
    assert record is not None
    assert record.session.identifier == "ada@example.com"
    fields = {(f.kind, f.key, f.value) for f in record.fields}
    assert {
        ("user", "identifier", "ada@example.com"),
        ("user", "email", "ada@example.com"),
        ("user", "plan", "pro"),
        ("user", "seats", "3"),
        ("session", "referrer", REFERRER),
        ("session", "reload", "true"),
    } <= fields
    assert [(f.verbatim, f.user_name, f.user_email) for f in record.feedback] == [
        ("e2e feedback: checkout was slow", "Ada Lovelace", "ada@example.com")
    ]


def test_console_errors_track_and_network_are_stored(
    recorded: tuple[Server, BackendTraffic],
) -> None:
    server, traffic = recorded
    record = read_session(server.data_dir, secure_id_of(traffic))
    assert record is not None
    payloads = decoded_payloads(record)
    messages = [m for p in payloads for m in json.loads(p["messages"] or "{}").get("messages", [])]
    logged = " ".join(" ".join(m["value"]) for m in messages)
    assert "e2e console.log" in logged
    assert "e2e console.warn" in logged
    errors = " ".join(e["event"] for p in payloads for e in p["errors"])
    for expected in ("e2e console.error", "e2e uncaught error", "e2e consumed error"):
        assert expected in errors
    events = [e for p in payloads for e in p["events"]["events"]]
    assert any(e["type"] == 2 for e in events), "a FullSnapshot was recorded"
    tracks = [
        e["data"]["payload"] for e in events if e["type"] == 5 and e["data"]["tag"] == "Track"
    ]
    assert any("e2e purchase" in t for t in tracks)
    resources = [
        r for p in payloads for r in json.loads(p["resources"] or "{}").get("resources", [])
    ]
    fetches = [r for r in resources if "data.json?from=page1" in r.get("name", "")]
    assert fetches
    assert fetches[0]["requestResponsePairs"]["request"]["headers"]["x-e2e"] == "yes"


def test_otlp_exports_are_stored(recorded: tuple[Server, BackendTraffic]) -> None:
    server, traffic = recorded
    assert traffic.otlp(), "the SDK exported OpenTelemetry data to footlight"

    stored = [b.signal for b in with_store(server.data_dir, lambda store: otlp_batches(store))]
    assert "traces" in stored
    assert len(stored) >= len(traffic.otlp())


def test_the_session_replays_faithfully_from_the_api(
    recorded: tuple[Server, BackendTraffic], app_origin: str, browser: Browser
) -> None:
    """Fidelity: the events the read API serves, replayed by rrweb's own Replayer, show
    what the recorded page showed at the end: its text and its input values."""
    server, traffic = recorded
    token = create_token(server)
    with http_client(base_url=server.url, timeout=30) as client:
        response = client.get(
            f"/api/v1/sessions/{secure_id_of(traffic)}/events",
            headers={"authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    events = response.json()
    live = ReplayedState.from_js(traffic.final_state)
    assert live.inputs["email"] == "grace@example.com"
    ARTIFACTS.mkdir(exist_ok=True)
    replayed = replay(
        events,
        browser=browser,
        app_origin=app_origin,
        screenshot=ARTIFACTS / "e2e-replay-final.png",
    )
    assert replayed.title == live.title
    assert replayed.text == live.text
    assert replayed.inputs == live.inputs
    assert replayed.warnings == ()


def test_a_backend_error_joins_the_session_through_the_browsers_trace(
    recorded: tuple[Server, BackendTraffic],
) -> None:
    """The browser SDK sends `traceparent` to the app's backend (`tracingOrigins`); the Node
    SDK's error there names no session, and reaches the session by the trace id alone."""
    server, traffic = recorded
    assert traffic.traceparent is not None, "the SDK sent no traceparent to the app's backend"
    trace_id = traffic.traceparent.split("-")[1]
    secure_id = secure_id_of(traffic)
    body = read_api_until(
        server,
        f"/api/v1/traces/{trace_id}",
        lambda trace: (
            bool(trace["errors"])
            and "checkout-api" in {span["service_name"] for span in trace["spans"]}
        ),
    )
    services = {span["service_name"] for span in body["spans"]}
    assert "checkout-api" in services, body
    browser = [s for s in body["spans"] if s["service_name"] != "checkout-api"]
    urls = [str(s["attributes"].get("http.url")) for s in browser if s["kind"] == "client"]
    assert len(urls) == 1
    assert urls[0].startswith("http://localhost:")
    assert urls[0].endswith("/api/checkout")
    assert {s["session_secure_id"] for s in body["spans"]} == {secure_id}
    assert [(e["type"], e["session_secure_id"], e["service_name"]) for e in body["errors"]] == [
        ("Error", secure_id, "checkout-api")
    ]
    assert body["errors"][0]["message"].startswith("payment declined ")
