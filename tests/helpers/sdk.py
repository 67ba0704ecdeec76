"""Driving the real highlight.run SDK in the e2e app and watching what it sends (the
recording the SDK tests and the UI tests share: tests/helpers/recording.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import BrowserContext, Page, Request, Response

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
    traceparent: str | None = None
    """The W3C trace context the SDK sent with the call to the app's backend (?api=)."""

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


def wait_until(page: Page, condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(100)


def drive(page: Page, traffic: BackendTraffic, url: str) -> None:
    traffic.page_load = 1
    page.goto(url, referer=REFERRER)
    assert page.evaluate("navigator.webdriver") is False
    wait_until(page, lambda: traffic.answered("initializeSession") == 1, "initializeSession")
    page.click("#email")
    page.keyboard.type("ada@example.com", delay=20)
    for button in ("log", "console-error", "throw", "consume", "identify", "track", "feedback"):
        page.click(f"#{button}")
    if "api=" in url:
        # Before the fetch, whose answer the page then shows: the UI tests seek the replay to
        # a moment after the fetch and expect to see it there.
        with page.expect_request(
            lambda r: r.url.endswith("/api/checkout") and r.method == "POST"
        ) as sent:
            page.click("#checkout")
        page.wait_for_selector("text=checkout answered 500")
        traffic.traceparent = sent.value.headers.get("traceparent")
    page.click("#fetch")
    page.wait_for_selector("text=fetched hello from the e2e app")
    pushes_before = traffic.answered("PushSessionEvents")
    wait_until(
        page,
        lambda: traffic.answered("PushSessionEvents") >= pushes_before + 3,
        "three more pushes on page 1",
    )
    traffic.page_load = 2
    page.click("#next")
    page.wait_for_selector("text=Thank you")
    wait_until(page, lambda: traffic.answered("initializeSession") == 2, "page 2 initializeSession")
    page.click("#email")
    page.keyboard.type("grace@example.com", delay=20)
    page.click("#log")
    page.wait_for_selector("text=logged")
    # The last thing the page shows; the pushes below carry every event up to it.
    traffic.final_state = page.evaluate("footlightDocumentState()")
    pushes_before = traffic.answered("PushSessionEvents")
    wait_until(
        page,
        lambda: traffic.answered("PushSessionEvents") >= pushes_before + 2,
        "two pushes on page 2",
    )
    wait_until(page, lambda: not traffic.in_flight, "in-flight calls to finish")
