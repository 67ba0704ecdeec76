"""The replay harness (tests/e2e/replay.py) shows what a recorded page showed, and notices
when it does not: a page records itself with rrweb's own `record` (no footlight involved),
Playwright types, clicks and selects on it, and rrweb's Replayer (the same npm rrweb) must
end on exactly what the live page showed. A recording cut short must not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.helpers.replay import ReplayedState, replay

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Recording:
    events: list[dict[str, Any]]
    live: ReplayedState
    cut: int  # events[:cut] is the recording up to "Ada" typed and nothing after
    live_at_cut: ReplayedState


def _live(page: Page) -> ReplayedState:
    return ReplayedState.from_js(page.evaluate("window.liveState()"))


@pytest.fixture(scope="module")
def recording(browser: Browser, app_origin: str) -> Recording:
    page = browser.new_page()
    page.goto(f"{app_origin}/record-fixture.html")
    page.click("#name")
    page.keyboard.type("Ada", delay=10)
    page.wait_for_timeout(100)
    cut = int(page.evaluate("window.recordedEvents().length"))
    live_at_cut = _live(page)

    page.keyboard.type(" Lovelace", delay=10)
    page.click("#greet")
    page.click("textarea[name=note]")
    page.keyboard.type("first line\nsecond line", delay=5)
    page.select_option("#plan", "pro")
    page.check("#agree")
    page.click("#add")
    page.click("#add")
    page.click("#hide")
    page.wait_for_timeout(200)
    live = _live(page)
    events: list[dict[str, Any]] = page.evaluate("window.recordedEvents()")
    page.close()
    return Recording(events, live, cut, live_at_cut)


def test_live_page_did_what_the_test_asked(recording: Recording) -> None:
    live = recording.live
    assert live.title == "Greeted Ada Lovelace"
    assert "Hello, Ada Lovelace!" in live.text
    assert "item 2" in live.text
    assert "This line gets hidden" not in live.text
    assert live.inputs == {
        "name": "Ada Lovelace",
        "note": "first line\nsecond line",
        "plan": "pro",
        "agree": "on",
    }
    assert live.checked == {"agree": True}
    assert recording.live_at_cut.inputs["name"] == "Ada"


def test_replay_ends_on_what_the_live_page_showed(
    recording: Recording, browser: Browser, app_origin: str, tmp_path: Path
) -> None:
    shot = tmp_path / "replay.png"
    replayed = replay(recording.events, browser=browser, app_origin=app_origin, screenshot=shot)
    assert replayed.warnings == ()
    assert replayed.title == recording.live.title
    assert replayed.text == recording.live.text
    assert replayed.inputs == recording.live.inputs
    assert replayed.checked == recording.live.checked
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_truncated_recording_replays_to_where_it_stops(
    recording: Recording, browser: Browser, app_origin: str
) -> None:
    replayed = replay(recording.events[: recording.cut], browser=browser, app_origin=app_origin)
    assert replayed.inputs["name"] == "Ada"
    assert replayed.inputs != recording.live.inputs
    assert replayed.text == recording.live_at_cut.text
    assert replayed.text != recording.live.text
