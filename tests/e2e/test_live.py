"""Watching a session while it records, in Debian's headless Chromium: the real highlight.run
SDK records the e2e app while the UI is open on its session; a console message and a thrown
error reach the panes, a DOM change made after the UI opened reaches the player, and when
the page is closed the session page says the recording went quiet.

On PostgreSQL the SDK records into one footlight node and the UI is opened on another: the
UI's node sees the pushes the other took (live derivation and the long poll read the store).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.helpers.cli import create_token
from tests.helpers.paths import ARTIFACTS
from tests.helpers.sdk import BackendTraffic, wait_until
from tests.helpers.servers import Server, start_server

# Serial: it asserts how soon what the page did shows, which a loaded machine would stretch.
pytestmark = [pytest.mark.e2e, pytest.mark.serial]

LIVE = {
    # Quiet (and a long poll's longest wait) within seconds, so the test sees both.
    "FOOTLIGHT_LIVE_QUIET_SECONDS": "3",
    "FOOTLIGHT_FOLLOW_WAIT_SECONDS": "2",
    # The UI's node looks for the recording node's queued live runs this often.
    "FOOTLIGHT_PROCESSING_POLL_SECONDS": "0.2",
}
SHOWN_WITHIN_MS = 5_000
"""How soon after the page did it a console message, an error or a DOM change must show."""


@pytest.fixture(scope="module")
def nodes(
    tmp_path_factory: pytest.TempPathFactory, backend: str
) -> Iterator[tuple[Server, Server]]:
    """(the node the SDK records into, the node the UI is opened on): one server on SQLite,
    two sharing one database on PostgreSQL."""
    first = start_server(tmp_path_factory.mktemp(f"live-{backend}") / "data", LIVE, backend=backend)
    second = first
    if backend == "postgresql":
        second = start_server(
            tmp_path_factory.mktemp(f"live-{backend}-ui") / "data", LIVE, store_url=first.store_url
        )
    try:
        yield first, second
    finally:
        for node in {id(first): first, id(second): second}.values():
            node.stop()


def pane_text(page: Page, pane: str) -> str:
    return str(page.evaluate(f"document.getElementById('pane-{pane}')?.textContent ?? ''"))


def shows_within(page: Page, what: str, condition: str, since: float) -> None:
    """Wait for the JS `condition` on the UI page; fail if it took over SHOWN_WITHIN_MS.
    (Polled from here: the page's Content-Security-Policy forbids the eval that
    `wait_for_function` would run in it.)"""
    deadline = time.monotonic() + 30
    while not page.evaluate(f"() => Boolean({condition})"):
        assert time.monotonic() < deadline, f"{what} never showed"
        page.wait_for_timeout(50)
    took = (time.monotonic() - since) * 1000
    assert took <= SHOWN_WITHIN_MS, f"{what} showed after {took:.0f} ms"


def test_a_recording_session_is_watched_live(
    browser: Browser, app_origin: str, nodes: tuple[Server, Server], backend: str
) -> None:
    recording_node, ui_node = nodes
    token = create_token(ui_node, name="watcher")
    app = browser.new_context()
    ui = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        traffic = BackendTraffic(recording_node.url)
        traffic.watch(app)
        recorded = app.new_page()
        recorded.goto(f"{app_origin}/index.html?project=1jdkoe52&backend={recording_node.url}")
        wait_until(recorded, lambda: traffic.answered("PushSessionEvents") >= 1, "the first push")
        (init,) = traffic.graphql("initializeSession")
        secure_id = str(init.variables()["session_secure_id"])

        watcher = ui.new_page()
        watcher.goto(f"{ui_node.url}/ui/login")
        watcher.fill("input[name=token]", token)
        watcher.click("button[type=submit]")
        expect(watcher).to_have_url(re.compile(r"/ui/sessions$"))
        watcher.goto(f"{ui_node.url}/ui/sessions/{secure_id}")
        expect(watcher.locator("#live-status")).to_contain_text("live")
        watcher.wait_for_selector("body[data-player=ready]", timeout=30_000)

        # What the page does now, the UI opened, must reach it while the page records.
        clicked = time.monotonic()
        recorded.click("#log")
        recorded.click("#throw")
        shows_within(
            watcher,
            "the console message",
            "document.getElementById('pane-console').textContent.includes('e2e console.log')",
            clicked,
        )
        shows_within(
            watcher,
            "the thrown error",
            "document.getElementById('pane-errors').textContent.includes('e2e uncaught error')",
            clicked,
        )
        shows_within(
            watcher,
            "the DOM change in the player",
            "document.querySelector('#player iframe')?.contentDocument"
            "?.getElementById('status')?.textContent === 'logged'",
            clicked,
        )
        assert "e2e console.log" in pane_text(watcher, "console")
        ARTIFACTS.mkdir(exist_ok=True)
        watcher.screenshot(path=str(ARTIFACTS / f"live-{backend}.png"), full_page=True)

        # The page goes away: the recording stops, and the session page says so.
        recorded.close()
        watcher.wait_for_selector("body[data-live=quiet]", timeout=30_000)
        expect(watcher.locator("#live-status")).to_contain_text("quiet")
    finally:
        app.close()
        ui.close()
