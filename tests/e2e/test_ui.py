"""The replay UI in Debian's headless Chromium, against a server holding a session that the
real highlight.run SDK recorded: sign in, filter, open the session, watch the player render
the recorded page, seek from the side panes, follow an error to the moment it happened.

Each page visited is saved as a screenshot in test-artifacts/ui-<backend>-<page>.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.helpers.cli import create_token, footlight_ok
from tests.helpers.paths import ARTIFACTS
from tests.helpers.recording import Recording, replica, secure_id_of
from tests.helpers.servers import Server, http_get
from tests.helpers.waiting import wait_for_processing

pytestmark = pytest.mark.e2e
PLAYER_READY = "body[data-player=ready]"


@dataclass(frozen=True)
class Recorded:
    server: Server
    secure_id: str
    admin_token: str
    """Reads every project."""
    outsider_token: str
    """Reads only another project, which has no sessions."""


@pytest.fixture(scope="module")
def recorded(
    sdk_recording: Recording, tmp_path_factory: pytest.TempPathFactory, backend: str
) -> Iterator[Recorded]:
    """The SDK's recording, processed, on a server of this module's own."""
    assert sdk_recording.traffic.failures == []
    server = replica(
        sdk_recording,
        tmp_path_factory.mktemp(f"ui-{backend}") / "data",
        env={"FOOTLIGHT_SESSION_INACTIVITY_SECONDS": "1"},
    )
    try:
        wait_for_processing(server)
        other = footlight_ok(server, "project", "create", "elsewhere").stdout.split()[0]
        yield Recorded(
            server,
            secure_id_of(sdk_recording.traffic),
            create_token(server, name="admin"),
            create_token(server, name="outsider", project=other),
        )
    finally:
        server.stop()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context
    context.close()


def screenshot(page: Page, backend: str, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"ui-{backend}-{name}.png"), full_page=True)


def sign_in(page: Page, server: Server, token: str) -> None:
    page.goto(f"{server.url}/ui/login")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/ui/sessions$"))


def current_time(page: Page) -> float:
    return float(page.evaluate("footlightPlayer.getReplayer().getCurrentTime()"))


def wait_for_player_at(page: Page, offset_ms: float) -> None:
    """Wait until the player's clock is at `offset_ms` (within 0.1 s) and stays paused there."""
    page.wait_for_function(
        "offset => Math.abs(footlightPlayer.getReplayer().getCurrentTime() - offset) < 100",
        arg=offset_ms,
        timeout=5000,
    )


def replay_frame_text(page: Page) -> str:
    return page.frame_locator("#player iframe").locator("body").inner_text()


# -- signing in --------------------------------------------------------------------------------


def test_without_a_sign_in_every_page_leads_to_the_login_form(
    recorded: Recorded, context: BrowserContext, backend: str
) -> None:
    page = context.new_page()
    target = f"/ui/sessions/{recorded.secure_id}?t=2"
    page.goto(recorded.server.url + target)
    expect(page).to_have_url(re.compile(r"/ui/login\?next="))
    expect(page.locator("input[name=token]")).to_be_visible()
    screenshot(page, backend, "login")
    # The events (the data itself) answer 401 rather than a page.
    events = http_get(f"{recorded.server.url}/ui/sessions/{recorded.secure_id}/events")
    assert events.status_code == 401
    # Signing in from there comes back to the page asked for.
    page.fill("input[name=token]", recorded.admin_token)
    page.click("button[type=submit]")
    expect(page).to_have_url(recorded.server.url + target)


def test_a_wrong_token_is_refused_on_the_login_form(
    recorded: Recorded, context: BrowserContext
) -> None:
    page = context.new_page()
    page.goto(f"{recorded.server.url}/ui/login")
    page.fill("input[name=token]", "flt_not-a-token")
    page.click("button[type=submit]")
    expect(page.locator(".problem")).to_have_text("unknown or revoked token")
    assert context.cookies() == []


def test_the_sign_in_cookie_is_httponly_strict_and_secure_on_localhost(
    recorded: Recorded, context: BrowserContext
) -> None:
    page = context.new_page()
    sign_in(page, recorded.server, recorded.admin_token)
    (cookie,) = context.cookies()
    assert cookie["name"] == "footlight_ui"
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["secure"] is True
    assert cookie["path"] == "/ui"
    assert recorded.admin_token not in cookie["value"]
    assert page.evaluate("document.cookie") == ""


def test_signing_out_ends_the_sign_in(recorded: Recorded, context: BrowserContext) -> None:
    page = context.new_page()
    sign_in(page, recorded.server, recorded.admin_token)
    (cookie,) = context.cookies()
    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    page.goto(f"{recorded.server.url}/ui/sessions")
    expect(page).to_have_url(re.compile(r"/ui/login\?next="))
    # The old cookie value is dead on the server, not only forgotten by the browser.
    replayed = http_get(
        f"{recorded.server.url}/ui/sessions",
        cookies={cookie["name"]: cookie["value"]},
    )
    assert replayed.status_code == 303
    assert replayed.headers["location"].startswith("/ui/login")


# -- the session list --------------------------------------------------------------------------


def test_the_session_list_shows_and_filters_the_recorded_session(
    recorded: Recorded, context: BrowserContext, backend: str
) -> None:
    page = context.new_page()
    sign_in(page, recorded.server, recorded.admin_token)
    row = page.locator(f"tr[data-session='{recorded.secure_id}']")
    expect(row).to_be_visible()
    cells = row.locator("td").all_inner_texts()
    assert cells[0].startswith("ada@example.com")  # identified on page 1
    assert re.fullmatch(r"\d+s|\d+m \d\ds", cells[2]), cells  # active time
    assert cells[3] == "2"  # pages
    assert int(cells[4]) >= 2  # the uncaught and the consumed error
    assert re.match(r"(Headless)?Chrome \d+ · Linux", cells[5]), cells
    screenshot(page, backend, "sessions")

    def filtered(**fields: str) -> list[str]:
        page.goto(f"{recorded.server.url}/ui/sessions")
        for name, value in fields.items():
            if name == "has_errors":
                page.select_option(f"select[name={name}]", value)
            else:
                page.fill(f"input[name={name}]", value)
        page.click(".filters button[type=submit]")
        page.wait_for_load_state()
        return [
            str(row.get_attribute("data-session")) for row in page.locator("tr[data-session]").all()
        ]

    assert filtered(user="ADA@example") == [recorded.secure_id]
    assert filtered(user="nobody") == []
    expect(page.locator(".empty")).to_contain_text("match these filters")
    assert filtered(has_errors="true") == [recorded.secure_id]
    assert filtered(has_errors="false") == []
    assert filtered(url="page2.html") == [recorded.secure_id]
    assert filtered(url="no-such-page") == []
    assert filtered(environment="production") == []
    assert filtered(min_active_seconds="1") == [recorded.secure_id]
    assert filtered(min_active_seconds="3600") == []
    assert filtered(**{"from": "2000-01-01T00:00", "to": "2100-01-01T00:00"}) == [
        recorded.secure_id
    ]
    assert filtered(**{"from": "2100-01-01T00:00"}) == []


# -- the session page --------------------------------------------------------------------------


def open_session(page: Page, recorded: Recorded, query: str = "") -> None:
    page.goto(f"{recorded.server.url}/ui/sessions/{recorded.secure_id}{query}")
    page.wait_for_selector(PLAYER_READY)


def test_the_player_renders_the_recorded_page_and_the_panes_seek_it(
    recorded: Recorded, context: BrowserContext, backend: str
) -> None:
    page = context.new_page()
    sign_in(page, recorded.server, recorded.admin_token)
    page.click(f"tr[data-session='{recorded.secure_id}'] a")
    page.wait_for_selector(PLAYER_READY)
    # The replay iframe holds the recorded page as it first looked.
    frame = page.frame_locator("#player iframe")
    expect(frame.locator("#title")).to_have_text("Checkout")
    expect(frame.locator("#status")).to_have_text("ready")
    expect(frame.locator("button#throw")).to_have_count(1)
    screenshot(page, backend, "session")

    # Errors pane: in the order they happened; a click seeks the player to that moment.
    page.click("[data-pane=errors]")
    errors = page.locator("#pane-errors li.error")
    offsets = [float(o) for o in errors.evaluate_all("rows => rows.map(r => r.dataset.offset)")]
    assert len(offsets) >= 2
    assert offsets == sorted(offsets)
    uncaught = errors.filter(has_text="window.onerror")
    offset = float(uncaught.get_attribute("data-offset") or "nan")
    assert offset > 0
    expect(uncaught).not_to_have_class(re.compile(r"\bpast\b"))
    uncaught.click()
    wait_for_player_at(page, offset)
    expect(uncaught).to_have_class(re.compile(r"\bpast\b"))
    screenshot(page, backend, "session-error")

    # The network pane's fetch, then a moment after its response: the page shows the answer.
    page.click("[data-pane=network]")
    fetch_row = page.locator("#pane-network li.event", has_text="data.json").first
    expect(fetch_row).to_be_visible()
    fetch_row.click()
    fetch_offset = float(fetch_row.get_attribute("data-offset") or "nan")
    page.evaluate(f"footlightPlayer.goto({fetch_offset + 1500}, false)")
    expect(frame.locator("#status")).to_have_text(re.compile(r"fetched hello"))
    # And the end of the recording is page 2.
    end = page.evaluate("footlightPlayer.getMetaData().totalTime")
    page.evaluate(f"footlightPlayer.goto({end}, false)")
    expect(frame.locator("body")).to_contain_text("Thank you")

    # The other panes hold what the SDK sent.
    page.click("[data-pane=console]")
    expect(page.locator("#pane-console")).to_contain_text("e2e console.warn")
    page.click("[data-pane=track]")
    expect(page.locator("#pane-track")).to_contain_text("e2e purchase")
    page.click("[data-pane=properties]")
    expect(page.locator("#pane-properties")).to_contain_text("user.plan")
    page.click("[data-pane=feedback]")
    expect(page.locator("#pane-feedback")).to_contain_text("checkout was slow")


def test_a_share_link_opens_the_replay_at_that_moment(
    recorded: Recorded, context: BrowserContext
) -> None:
    page = context.new_page()
    sign_in(page, recorded.server, recorded.admin_token)
    open_session(page, recorded)
    page.evaluate("footlightPlayer.goto(2500, false)")
    page.click("#share")
    link = page.input_value("#share-link")
    assert re.search(r"[?&]t=2\.5$", link), link
    other = context.new_page()
    other.goto(link)
    other.wait_for_selector(PLAYER_READY)
    wait_for_player_at(other, 2500)


def test_playing_marks_the_pane_rows_the_replay_has_passed(
    recorded: Recorded, context: BrowserContext
) -> None:
    page = context.new_page()
    sign_in(page, recorded.server, recorded.admin_token)
    open_session(page, recorded)
    rows = page.locator("#pane-console li.event")
    offsets = [float(o) for o in rows.evaluate_all("rows => rows.map(r => r.dataset.offset)")]
    first = min(offsets)
    assert page.locator("#pane-console li.event.past").count() == 0
    expect(page.locator(".rr-controller .switch input")).to_be_checked()  # skip inactivity
    page.click(".rr-controller__btns button >> text=4x")
    assert page.evaluate("footlightPlayer.getReplayer().config.speed") == 4
    page.click(".rr-controller__btns button >> nth=0")  # play
    page.wait_for_function(
        "first => footlightPlayer.getReplayer().getCurrentTime() > first + 300", arg=first
    )
    page.click(".rr-controller__btns button >> nth=0")  # pause
    # The controller reports the clock a few times a second; wait for the panes to catch up.
    page.wait_for_timeout(600)
    now = current_time(page)
    past = [o for o in offsets if o <= now]
    assert past
    expect(page.locator("#pane-console li.event.past")).to_have_count(len(past))


# -- errors ------------------------------------------------------------------------------------


def test_the_errors_page_links_a_group_to_the_moment_in_its_session(
    recorded: Recorded, context: BrowserContext, backend: str
) -> None:
    page = context.new_page()
    sign_in(page, recorded.server, recorded.admin_token)
    page.click("nav >> text=Errors")
    groups = page.locator("#error-groups tbody tr")
    # The SDK reports the uncaught error twice: from window.onerror and as a console.error.
    uncaught = groups.filter(has_text="window.onerror").filter(has_text="e2e uncaught error")
    expect(uncaught).to_have_count(1)
    cells = uncaught.locator("td").all_inner_texts()
    assert cells[1] == "1"
    assert cells[2] == "1"
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", cells[3])
    screenshot(page, backend, "errors")

    uncaught.locator("a").click()
    expect(page.locator("h1")).to_contain_text("e2e uncaught error")
    expect(page.locator("#stack li").first).to_contain_text("app.js")
    screenshot(page, backend, "error-group")
    link = page.locator("#occurrences a.session-link")
    expect(link).to_have_count(1)
    moment = re.search(r"\?t=([\d.]+)$", link.get_attribute("href") or "")
    assert moment is not None
    t = float(moment.group(1))
    link.click()
    page.wait_for_selector(PLAYER_READY)
    page.click("[data-pane=errors]")
    error_row = page.locator("#pane-errors li.error", has_text="window.onerror")
    error_offset = float(error_row.get_attribute("data-offset") or "nan")
    assert abs(t * 1000 - error_offset) < 1000
    wait_for_player_at(page, t * 1000)


# -- another project's token -------------------------------------------------------------------


def test_a_token_for_another_project_sees_nothing_of_this_one(
    recorded: Recorded, context: BrowserContext, backend: str
) -> None:
    page = context.new_page()
    sign_in(page, recorded.server, recorded.outsider_token)
    expect(page.locator("tr[data-session]")).to_have_count(0)
    expect(page.locator(".empty")).to_contain_text("No sessions yet")
    screenshot(page, backend, "outsider-sessions")
    response = page.goto(f"{recorded.server.url}/ui/sessions/{recorded.secure_id}")
    assert response is not None
    assert response.status == 404
    events = page.request.get(f"{recorded.server.url}/ui/sessions/{recorded.secure_id}/events")
    assert events.status == 404
    page.goto(f"{recorded.server.url}/ui/errors")
    expect(page.locator("#error-groups")).to_have_count(0)
    page.goto(f"{recorded.server.url}/ui/sessions?project=1")
    expect(page.locator(".problem")).to_contain_text("does not grant access")
