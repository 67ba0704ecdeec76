"""Every time the UI shows is shown, whatever was stored: no value turns a page into a 500.

Proven here:

* the filters that write times and durations are total: any integer (the whole 64-bit
  range), a float, infinity or NaN renders as a time or as a marked number, never raises;
* end to end, on both backends: a payload whose errors are stamped `9999-12-31T23:59:59-14:00`
  and `0001-01-01T00:00:00+14:00` is processed, and the error list, the group pages and the
  session page answer 200 (before, "year 10000 is out of range" made the error list a 500 for
  good, the far-future group sorting first);
* the same with such values written straight into the store (errors, console, network,
  websocket, track and feedback rows, a session's start), so this does not depend on what
  processing makes of the input;
* a session page shows at most `CLIP_CHARS` of one recorded text (a console line, a body),
  saying how much more there is, so 2,000 rows of a pane cannot make a page of gigabytes.
"""

from __future__ import annotations

import math
import re

import httpx
import pytest

from footlight.ui.format import CLIP_CHARS, clip, duration, ms, when
from tests.helpers.events import T0, active_for, page_error
from tests.helpers.graphql import init_session, record
from tests.helpers.servers import Server, http_client
from tests.helpers.store import db_rows, new_project
from tests.helpers.waiting import wait_for_processing

EXTREMES = [
    0,
    1,
    -1,
    253_402_300_799_999,  # 9999-12-31T23:59:59.999Z, the last time datetime holds
    253_402_354_799_000,  # 9999-12-31T23:59:59-14:00
    -62_135_596_800_000,  # 0001-01-01T00:00:00Z
    -62_135_647_200_000,  # 0001-01-01T00:00:00+14:00
    2**53,
    -(2**53),
    2**63 - 1,
    -(2**63),
]


@pytest.mark.parametrize("value", [*EXTREMES, 1.5e300, -1.5e300, math.inf, -math.inf, math.nan])
def test_time_filters_are_total(value: float) -> None:
    shown = when(value)
    assert shown
    assert duration(value)
    assert isinstance(ms(value), str)


def test_times_datetime_holds_are_written_as_times_the_rest_as_numbers() -> None:
    assert when(0) == "1970-01-01 00:00:00 UTC"
    assert when(253_402_300_799_999) == "9999-12-31 23:59:59 UTC"
    assert when(-62_135_596_800_000) == "0001-01-01 00:00:00 UTC"
    assert when(253_402_354_799_000) == "invalid time (253402354799000 ms)"
    assert when(None) == "—"
    assert ms(T0 + 0.75) == str(T0)
    assert ms(math.nan) == ""


def test_long_texts_are_clipped_with_what_is_left_counted() -> None:
    assert clip("short") == "short"
    assert clip("x" * CLIP_CHARS) == "x" * CLIP_CHARS
    assert clip("x" * (CLIP_CHARS + 1234)) == "x" * CLIP_CHARS + "… (1,234 more characters)"
    assert clip(12345, limit=2) == "12… (3 more characters)"


def test_a_session_page_clips_a_huge_console_line(ui_server: Server, admin: httpx.Client) -> None:
    project = new_project(ui_server, "huge line")
    with http_client(base_url=ui_server.url, timeout=30) as sdk:
        secure_id = init_session(sdk, project=str(project.id))
    line = "0123456789" * 50_000
    db_rows(
        ui_server.data_dir,
        "INSERT INTO console_messages (session_secure_id, origin, timestamp, level, message,"
        " trace, attributes) VALUES (?, 'test:1', ?, 'log', ?, '[]', '{}')",
        [secure_id, T0, line],
    )
    page = admin.get(f"/ui/sessions/{secure_id}")
    assert page.status_code == 200
    assert f"… ({len(line) - CLIP_CHARS:,} more characters)" in page.text
    assert line not in page.text
    assert len(page.content) < 200_000


def group_links(html: str) -> list[str]:
    return [m.replace("&amp;", "&") for m in re.findall(r'href="(/ui/errors/[^"]+)"', html)]


def assert_every_page_answers(admin: httpx.Client, project_id: int, secure_id: str) -> None:
    listed = admin.get("/ui/errors", params={"project": project_id})
    assert listed.status_code == 200, listed.text[:500]
    links = group_links(listed.text)
    assert links
    for link in links:
        page = admin.get(link)
        assert page.status_code == 200, f"{link}: {page.text[:500]}"
    session = admin.get(f"/ui/sessions/{secure_id}")
    assert session.status_code == 200, session.text[:500]
    sessions = admin.get("/ui/sessions", params={"project": project_id})
    assert sessions.status_code == 200, sessions.text[:500]
    assert secure_id in sessions.text


def test_errors_stamped_at_the_ends_of_time_leave_every_page_working(
    ui_server: Server, admin: httpx.Client
) -> None:
    project = new_project(ui_server, "ends of time")
    with http_client(base_url=ui_server.url, timeout=30) as sdk:
        secure_id = record(
            sdk,
            project,
            active_for(2),
            errors=[
                page_error("from the far future", timestamp="9999-12-31T23:59:59-14:00"),
                page_error("from the distant past", timestamp="0001-01-01T00:00:00+14:00", line=3),
                page_error("from now", timestamp="2026-11-26T03:41:21.546Z", line=5),
            ],
        )
    wait_for_processing(ui_server)
    stored = db_rows(
        ui_server.data_dir, "SELECT count(*) FROM errors WHERE session_secure_id = ?", [secure_id]
    )
    assert stored == [(3,)]
    assert_every_page_answers(admin, project.id, secure_id)


def test_times_out_of_any_calendar_in_the_store_leave_every_page_working(
    ui_server: Server, admin: httpx.Client
) -> None:
    project = new_project(ui_server, "stored extremes")
    with http_client(base_url=ui_server.url, timeout=30) as sdk:
        secure_id = init_session(sdk, project=str(project.id))
    [(session_id,)] = db_rows(
        ui_server.data_dir, "SELECT id FROM sessions WHERE secure_id = ?", [secure_id]
    )
    data = ui_server.data_dir
    for i, moment in enumerate(EXTREMES):
        db_rows(
            data,
            "INSERT INTO errors (project_id, session_secure_id, origin, fingerprint, timestamp,"
            " type, message, frames, source) VALUES (?, ?, 'test:1', ?, ?, 'Error', ?, '[]',"
            " 'payload')",
            [project.id, secure_id, f"extreme{i % 3}", moment, f"at {moment}"],
        )
        db_rows(
            data,
            "INSERT INTO console_messages (session_secure_id, origin, timestamp, level, message,"
            " trace, attributes) VALUES (?, 'test:1', ?, 'log', 'x', '[]', '{}')",
            [secure_id, moment],
        )
        db_rows(
            data,
            "INSERT INTO network_requests (session_secure_id, origin, started_at, ended_at, url)"
            " VALUES (?, 'test:1', ?, ?, 'https://app.example/x')",
            [secure_id, float(moment), float(moment) + 5],
        )
        db_rows(
            data,
            "INSERT INTO websocket_events (session_secure_id, origin, timestamp, socket_id, type,"
            " name) VALUES (?, 'test:1', ?, 's', 'open', 'ws')",
            [secure_id, float(moment)],
        )
        db_rows(
            data,
            "INSERT INTO track_events (session_secure_id, origin, timestamp, name, properties)"
            " VALUES (?, 'test:1', ?, 't', '{}')",
            [secure_id, moment],
        )
        db_rows(
            data,
            "INSERT INTO feedback (session_id, verbatim, timestamp, received_at)"
            " VALUES (?, ?, ?, 0)",
            [session_id, f"v{i}", moment],
        )
    db_rows(data, "UPDATE sessions SET created_at = ? WHERE id = ?", [2**62, session_id])
    assert_every_page_answers(admin, project.id, secure_id)
