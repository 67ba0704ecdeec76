"""Replay rrweb events with rrweb's own Replayer in headless Chromium and read what the
replayed page shows at the end, so a test can check that a recorded session replays
faithfully.

The replay page is tests/e2e/app/public/replay.html (source: app/src/replay.js), served by
the `app_origin` fixture. Events reach it through a routed JSON file, so sessions of any
size go in one request rather than one giant `page.evaluate` argument.

    state = replay(events, browser=browser, app_origin=app_origin)
    assert state.inputs["email"] == "ada@example.com"
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, ViewportSize

EVENTS_PATH = "/__replay_events.json"
_DEFAULT_VIEWPORT = (1280, 720)


@dataclass(frozen=True)
class ReplayedState:
    """What a page shows: its title, the visible text of its <body> and its form fields.

    `inputs` maps each input/textarea/select to its value, keyed by the element's id, else
    its name, else `tag[index]` (the index among all form fields). `checked` does the same
    for checkboxes and radios. `warnings` are the Replayer's own (e.g. nodes it could not
    find), empty for a live page.
    """

    title: str
    text: str
    inputs: dict[str, str]
    checked: dict[str, bool] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_js(cls, raw: dict[str, Any]) -> ReplayedState:
        """Build from what app/src/document-state.js's `documentState` returns."""
        inputs: dict[str, str] = {}
        checked: dict[str, bool] = {}
        for item in raw["inputs"]:
            key = str(item["id"] or item["name"] or item["key"])
            inputs[key] = str(item["value"])
            if item["checked"] is not None:
                checked[key] = bool(item["checked"])
        warnings = tuple(str(w) for w in raw.get("warnings", ()))
        return cls(str(raw["title"]), str(raw["text"]), inputs, checked, warnings)


def _viewport(events: Sequence[dict[str, Any]]) -> ViewportSize:
    """Large enough to show the recorded viewport (the first Meta event's size) whole."""
    width, height = _DEFAULT_VIEWPORT
    for event in events:
        if event.get("type") == 4:  # Meta
            width = max(width, int(event["data"].get("width") or 0))
            height = max(height, int(event["data"].get("height") or 0))
            break
    return {"width": width, "height": height}


@contextmanager
def replayed_page(
    events: Sequence[dict[str, Any]], *, browser: Browser, app_origin: str
) -> Iterator[Page]:
    """A page of its own (in a fresh context) with every event replayed; closed on exit.

    Raises if the Replayer throws or the page reports an uncaught error.
    """
    context = browser.new_context(viewport=_viewport(events))
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        body = json.dumps(list(events))
        page.route(
            f"{app_origin}{EVENTS_PATH}",
            lambda route: route.fulfill(body=body, content_type="application/json"),
        )
        page.goto(f"{app_origin}/replay.html")
        page.evaluate(
            """async (path) => {
                const response = await fetch(path)
                return window.replayEvents(await response.json())
            }""",
            EVENTS_PATH,
        )
        if errors:
            raise AssertionError(f"the replay page threw: {errors}")
        yield page
    finally:
        context.close()


def read_state(page: Page) -> ReplayedState:
    """What the replay on a `replayed_page` shows now."""
    return ReplayedState.from_js(page.evaluate("window.replayedState()"))


def save_screenshot(page: Page, path: Path) -> Path:
    """Save a PNG of the replay iframe of a `replayed_page` (e.g. as a CI artifact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page.locator("#player iframe").screenshot(path=str(path))
    return path


def replay(
    events: Sequence[dict[str, Any]],
    *,
    browser: Browser,
    app_origin: str,
    screenshot: Path | None = None,
) -> ReplayedState:
    """Replay `events` to the end and return what the replayed page shows.

    With `screenshot`, also save a PNG of the end state there.
    """
    with replayed_page(events, browser=browser, app_origin=app_origin) as page:
        state = read_state(page)
        if screenshot is not None:
            save_screenshot(page, screenshot)
        return state


def replay_screenshot(
    events: Sequence[dict[str, Any]], path: Path, *, browser: Browser, app_origin: str
) -> Path:
    """Replay `events` to the end and save a PNG of what the replayed page shows to `path`."""
    with replayed_page(events, browser=browser, app_origin=app_origin) as page:
        return save_screenshot(page, path)
