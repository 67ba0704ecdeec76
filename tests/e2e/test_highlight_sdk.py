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
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, Response, sync_playwright

from tests.conftest import (
    ROOT,
    Server,
    create_token,
    decoded_payloads,
    read_session,
    start_server,
    with_store,
)
from tests.e2e.conftest import launch_chromium
from tests.e2e.replay import ReplayedState, replay

pytestmark = pytest.mark.e2e
ARTIFACTS = ROOT / "test-artifacts"

REFERRER = "https://referrer.example/landing?utm_source=e2e"


@dataclass(frozen=True)
class Call:
    """One answered call to footlight, as the browser saw it."""

    method: str
    url: str
    status: int
    request_body: str | None
    response_body: bytes
    duration_ms: float
    page_load: int

    @property
    def operation(self) -> str | None:
        if self.method != "POST" or not self.request_body or "/v1/" in self.url:
            return None
        return str(json.loads(self.request_body).get("operationName"))

    def variables(self) -> dict[str, Any]:
        return dict(json.loads(self.request_body or "{}")["variables"])


@dataclass
class BackendTraffic:
    """What the browser saw of its calls to footlight."""

    backend: str
    calls: list[Call] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    in_flight: set[Request] = field(default_factory=set)
    page_load: int = 0
    final_state: dict[str, Any] = field(default_factory=dict)

    def watch(self, context: BrowserContext) -> None:
        context.on("request", self._on_request)
        context.on("response", self._on_response)
        context.on("requestfailed", self._on_failed)

    def _ours(self, request: Request) -> bool:
        return request.url.startswith(self.backend)

    def _on_request(self, request: Request) -> None:
        if self._ours(request):
            self.in_flight.add(request)

    def _on_response(self, response: Response) -> None:
        if not self._ours(response.request):
            return
        request = response.request
        # Bodies must be read now: after a navigation the browser forgets them.
        body = response.body() if request.method == "POST" else b""
        self.calls.append(
            Call(
                request.method,
                response.url,
                response.status,
                request.post_data,
                body,
                request.timing["responseEnd"],
                self.page_load,
            )
        )
        self.in_flight.discard(request)
        if response.status >= 400:
            self.failures.append(f"{response.status} {request.method} {response.url}")

    def _on_failed(self, request: Request) -> None:
        if self._ours(request):
            self.in_flight.discard(request)
            self.failures.append(f"failed {request.method} {request.url}: {request.failure}")

    def answered(self, operation: str) -> int:
        return len(self.graphql(operation))

    def graphql(self, operation: str) -> list[Call]:
        return [c for c in self.calls if c.operation == operation]

    def otlp(self) -> list[Call]:
        return [c for c in self.calls if c.method == "POST" and "/v1/" in c.url]


def _wait(page: Page, condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(100)


def _drive(page: Page, traffic: BackendTraffic, url: str) -> None:
    traffic.page_load = 1
    page.goto(url, referer=REFERRER)
    assert page.evaluate("navigator.webdriver") is False
    _wait(page, lambda: traffic.answered("initializeSession") == 1, "initializeSession")
    page.click("#email")
    page.keyboard.type("ada@example.com", delay=20)
    for button in ("log", "console-error", "throw", "consume", "identify", "track", "feedback"):
        page.click(f"#{button}")
    page.click("#fetch")
    page.wait_for_selector("text=fetched hello from the e2e app")
    pushes_before = traffic.answered("PushSessionEvents")
    _wait(
        page,
        lambda: traffic.answered("PushSessionEvents") >= pushes_before + 3,
        "three more pushes on page 1",
    )
    traffic.page_load = 2
    page.click("#next")
    page.wait_for_selector("text=Thank you")
    _wait(page, lambda: traffic.answered("initializeSession") == 2, "page 2 initializeSession")
    page.click("#email")
    page.keyboard.type("grace@example.com", delay=20)
    page.click("#log")
    page.wait_for_selector("text=logged")
    # The last thing the page shows; the pushes below carry every event up to it.
    traffic.final_state = page.evaluate("footlightDocumentState()")
    pushes_before = traffic.answered("PushSessionEvents")
    _wait(
        page,
        lambda: traffic.answered("PushSessionEvents") >= pushes_before + 2,
        "two pushes on page 2",
    )
    _wait(page, lambda: not traffic.in_flight, "in-flight calls to finish")


@pytest.fixture(scope="module")
def recorded(
    app_origin: str, tmp_path_factory: pytest.TempPathFactory, backend: str
) -> Iterator[tuple[Server, BackendTraffic]]:
    server = start_server(tmp_path_factory.mktemp(f"e2e-{backend}") / "data", backend=backend)
    traffic = BackendTraffic(server.url)
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            context = browser.new_context()
            traffic.watch(context)
            page = context.new_page()
            page.on(
                "console",
                lambda m: traffic.console_errors.append(m.text) if m.type == "error" else None,
            )
            _drive(page, traffic, f"{app_origin}/index.html?project=1jdkoe52&backend={server.url}")
            context.close()
            browser.close()
        yield server, traffic
    finally:
        server.stop()


def _secure_id(traffic: BackendTraffic) -> str:
    inits = traffic.graphql("initializeSession")
    ids = {str(call.variables()["session_secure_id"]) for call in inits}
    assert len(ids) == 1, f"both pages continue one session, got {ids}"
    return ids.pop()


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
    for call in traffic.calls:
        if call.operation is not None and call.response_body:  # main-thread calls
            body = json.loads(call.response_body)
            assert body.get("data"), body
            assert "errors" not in body, body


def test_session_is_stored_once_across_page_loads(recorded: tuple[Server, BackendTraffic]) -> None:
    server, traffic = recorded
    record = read_session(server.data_dir, _secure_id(traffic))
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
    record = read_session(server.data_dir, _secure_id(traffic))
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
    record = read_session(server.data_dir, _secure_id(traffic))
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
    record = read_session(server.data_dir, _secure_id(traffic))
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

    stored = [b.signal for b in with_store(server.data_dir, lambda store: store.otlp_batches())]
    assert "traces" in stored
    assert len(stored) >= len(traffic.otlp())


def test_the_session_replays_faithfully_from_the_api(
    recorded: tuple[Server, BackendTraffic], app_origin: str, browser: Browser
) -> None:
    """Fidelity: the events the read API serves, replayed by rrweb's own Replayer, show
    what the recorded page showed at the end: its text and its input values."""
    server, traffic = recorded
    token = create_token(server)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.get(
            f"/api/v1/sessions/{_secure_id(traffic)}/events",
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
