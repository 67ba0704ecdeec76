"""A session's timelines through /api/v1, a page at a time, on both backends.

Proven here:

* console, errors, track events, feedback and properties are paged like every other list:
  `limit` rows a page (default 50, at most 200), `next_cursor` until the last page; the pages
  hold every row once, in the order of one unpaged read (time, then id), across rows that
  share a timestamp at a page boundary, and past times of any 64-bit size;
* the network route pages requests and websocket events with one cursor: each list up to
  `limit` a page, an ended list empty afterwards; a span folded into a resource on another
  page shows up once, with that resource, and the pages together are exactly the merged
  timeline of one whole read;
* a bad `limit` or a cursor the API did not make is a 400 on every timeline;
* a session with more properties than a view holds says so (`properties_complete`), and
  `/properties` pages through all of them.

Rows are written straight into the store with SQL (as processing would write them), so a
test can hold thousands of rows without pushing them.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from footlight.store.base import MAX_VIEW_FIELDS
from tests.helpers.api import assert_error_response, get_json
from tests.helpers.events import T0
from tests.helpers.graphql import init_session
from tests.helpers.servers import Server
from tests.helpers.store import db_rows, new_project

TIMELINES = [
    ("console", "console"),
    ("network", "network"),
    ("errors", "errors"),
    ("track", "events"),
    ("feedback", "feedback"),
    ("properties", "properties"),
]


def new_session(api_server: Server, ingest: httpx.Client, name: str) -> tuple[str, int]:
    """A session of a fresh project, with nothing in it yet: (secure id, numeric id)."""
    project = new_project(api_server, name)
    secure_id = init_session(ingest, project=str(project.id))
    [(session_id,)] = db_rows(
        api_server.data_dir, "SELECT id FROM sessions WHERE secure_id = ?", [secure_id]
    )
    return secure_id, int(session_id)


def fill(api_server: Server, table: str, columns: str, select: str, count: int, *args: Any) -> None:
    """Insert `count` rows into `table`, row i (from 0) made by `select` over column `i`."""
    sql = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
    sql += f" INSERT INTO {table} ({columns}) SELECT {select} FROM n"  # noqa: S608 - the test's own
    db_rows(api_server.data_dir, sql, [count - 1, *args])


def pages(
    api: httpx.Client, path: str, key: str, limit: int | None = None
) -> list[list[dict[str, Any]]]:
    """Every page of a list, following `next_cursor`."""
    found: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {} if limit is None else {"limit": limit}
        body = get_json(api, path, **params, **({"cursor": cursor} if cursor else {}))
        found.append(body[key])
        cursor = body["next_cursor"]
        if cursor is None:
            return found
        assert len(found) < 100, "pagination does not end"


def test_console_pages_hold_every_message_once_in_time_order(
    api_server: Server, ingest: httpx.Client, api: httpx.Client
) -> None:
    secure_id, _ = new_session(api_server, ingest, "console pages")
    # 450 messages, 7 to a millisecond: page boundaries fall between messages of one time.
    fill(
        api_server,
        "console_messages",
        "session_secure_id, origin, timestamp, level, message, trace, attributes",
        "?, 'test:1', ? + i / 7, 'log', 'm' || i, '[]', '{}'",
        450,
        secure_id,
        T0,
    )
    expected = [
        row[0]
        for row in db_rows(
            api_server.data_dir,
            "SELECT message FROM console_messages WHERE session_secure_id = ?"
            " ORDER BY timestamp, id",
            [secure_id],
        )
    ]
    path = f"/api/v1/sessions/{secure_id}/console"
    by_200 = pages(api, path, "console", 200)
    assert [len(p) for p in by_200] == [200, 200, 50]
    assert [m["message"] for p in by_200 for m in p] == expected
    assert sorted(expected, key=lambda m: int(m[1:])) == expected  # id order within a time

    by_default = pages(api, path, "console")
    assert [len(p) for p in by_default] == [50] * 9
    assert [m["message"] for p in by_default for m in p] == expected


def test_paging_gets_past_times_of_any_size(
    api_server: Server, ingest: httpx.Client, api: httpx.Client
) -> None:
    secure_id, _ = new_session(api_server, ingest, "odd times")
    times = [-(2**63), -1, 0, T0, 2**53 + 1, 2**62, 2**63 - 1]
    for t in times:
        db_rows(
            api_server.data_dir,
            "INSERT INTO console_messages (session_secure_id, origin, timestamp, level, message,"
            " trace, attributes) VALUES (?, 'test:1', ?, 'log', 'x', '[]', '{}')",
            [secure_id, t],
        )
    found = pages(api, f"/api/v1/sessions/{secure_id}/console", "console", limit=1)
    assert [m["timestamp"] for page in found for m in page] == times


def test_errors_track_feedback_and_properties_are_paged(
    api_server: Server, ingest: httpx.Client, api: httpx.Client
) -> None:
    secure_id, session_id = new_session(api_server, ingest, "small timelines")
    [(project_id,)] = db_rows(
        api_server.data_dir, "SELECT project_id FROM sessions WHERE id = ?", [session_id]
    )
    fill(
        api_server,
        "errors",
        "project_id, session_secure_id, origin, fingerprint, timestamp, type, message, frames,"
        " source",
        "?, ?, 'test:1', 'f' || (i / 3), ? + i / 2, 'Error', 'e' || i, '[]', 'payload'",
        7,
        project_id,
        secure_id,
        T0,
    )
    fill(
        api_server,
        "track_events",
        "session_secure_id, origin, timestamp, name, properties",
        "?, 'test:1', ? + i / 2, 't' || i, '{}'",
        7,
        secure_id,
        T0,
    )
    fill(
        api_server,
        "feedback",
        "session_id, verbatim, timestamp, received_at",
        "?, 'v' || i, ? + i / 2, 0",
        7,
        session_id,
        T0,
    )
    fill(
        api_server,
        "session_fields",
        "session_id, kind, key, value, received_at",
        "?, 'session', 'k' || (i / 2), 'v' || i, 0",
        7,
        session_id,
    )
    base = f"/api/v1/sessions/{secure_id}"
    for path, key, field, prefix in (
        ("errors", "errors", "message", "e"),
        ("track", "events", "name", "t"),
        ("feedback", "feedback", "verbatim", "v"),
    ):
        found = pages(api, f"{base}/{path}", key, limit=3)
        assert [len(p) for p in found] == [3, 3, 1], path
        shown = [item[field] for page in found for item in page]
        assert shown == [f"{prefix}{i}" for i in range(7)], path
    properties = pages(api, f"{base}/properties", "properties", limit=3)
    assert [len(p) for p in properties] == [3, 3, 1]
    assert [(p["kind"], p["key"], p["value"]) for page in properties for p in page] == sorted(
        ("session", f"k{i // 2}", f"v{i}") for i in range(7)
    )


def test_a_view_holds_its_first_properties_and_says_when_there_are_more(
    api_server: Server, ingest: httpx.Client, api: httpx.Client
) -> None:
    secure_id, session_id = new_session(api_server, ingest, "many properties")
    total = MAX_VIEW_FIELDS + 5
    fill(
        api_server,
        "session_fields",
        "session_id, kind, key, value, received_at",
        "?, 'track', 'k' || i, 'v', i",
        total,
        session_id,
    )
    view = get_json(api, f"/api/v1/sessions/{secure_id}")
    assert view["properties_complete"] is False
    assert len(view["properties"]["track"]) == MAX_VIEW_FIELDS
    assert "k0" in view["properties"]["track"]  # the first to arrive
    assert f"k{total - 1}" not in view["properties"]["track"]
    track = get_json(api, f"/api/v1/sessions/{secure_id}/track")
    assert track["properties_complete"] is False
    every = pages(api, f"/api/v1/sessions/{secure_id}/properties", "properties", limit=200)
    assert sum(len(p) for p in every) == total
    assert len({p["key"] for page in every for p in page}) == total


def network_row(
    secure_id: str, start: float, url: str, *, span: bool, trace: str | None = None
) -> list[Any]:
    origin = "otlp:999999" if span else "test:1"
    return [secure_id, origin, start, start + 50, "GET", url, 200, "fetch", trace, span and "s1"]


def test_network_pages_show_each_request_once_with_its_span(
    api_server: Server, ingest: httpx.Client, api: httpx.Client
) -> None:
    secure_id, _ = new_session(api_server, ingest, "network pages")
    a = "https://app.example"
    rows = [
        network_row(secure_id, T0 + 1000, f"{a}/a", span=False),
        network_row(secure_id, T0 + 2000, f"{a}/b", span=False),
        # A span whose resource starts 0.11 s later, on the next page (of 3 rows).
        network_row(secure_id, T0 + 2990, f"{a}/c", span=True, trace="trace-c"),
        network_row(secure_id, T0 + 3100, f"{a}/c", span=False),
        # A span of a request only OTLP saw.
        network_row(secure_id, T0 + 5000, f"{a}/d", span=True, trace="trace-d"),
        network_row(secure_id, T0 + 7000, f"{a}/e", span=False),
        # A span starting after its resource, on the page after the resource's.
        network_row(secure_id, T0 + 7100, f"{a}/e", span=True, trace="trace-e"),
    ]
    for row in rows:
        db_rows(
            api_server.data_dir,
            "INSERT INTO network_requests (session_secure_id, origin, started_at, ended_at,"
            " method, url, status, initiator, trace_id, span_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )
    for i in range(5):
        db_rows(
            api_server.data_dir,
            "INSERT INTO websocket_events (session_secure_id, origin, timestamp, socket_id, type,"
            " name) VALUES (?, 'test:1', ?, 's', 'received', ?)",
            [secure_id, T0 + i, f"ws{i}"],
        )
    path = f"/api/v1/sessions/{secure_id}/network"
    whole = get_json(api, path, limit=200)
    assert whole["next_cursor"] is None
    merged = [(r["url"].removeprefix(a), r["trace_id"], r["source"]) for r in whole["network"]]
    assert merged == [
        ("/a", None, "payload"),
        ("/b", None, "payload"),
        ("/c", "trace-c", "payload"),
        ("/d", "trace-d", "otlp"),
        ("/e", "trace-e", "payload"),
    ]

    paged: list[dict[str, Any]] = []
    sockets: list[list[str]] = []
    cursor: str | None = None
    while True:
        body = get_json(api, path, limit=3, **({"cursor": cursor} if cursor else {}))
        paged.append(body)
        sockets.append([w["name"] for w in body["websocket"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(paged) < 10
    assert [[r["url"].removeprefix(a) for r in p["network"]] for p in paged] == [
        ["/a", "/b"],  # the span of /c is shown with its resource, on the next page
        ["/c", "/d", "/e"],
        [],  # the span of /e was shown with /e
    ]
    assert [r for p in paged for r in p["network"]] == whole["network"]
    assert sockets == [["ws0", "ws1", "ws2"], ["ws3", "ws4"], []]


@pytest.mark.parametrize(("path", "key"), TIMELINES)
@pytest.mark.parametrize(
    ("name", "value"),
    [("limit", "0"), ("limit", "201"), ("limit", "x"), ("cursor", "bm90LWEtY3Vyc29y")],
)
def test_a_bad_limit_or_cursor_is_400_on_every_timeline(
    api_server: Server,
    ingest: httpx.Client,
    api: httpx.Client,
    path: str,
    key: str,
    name: str,
    value: str,
) -> None:
    secure_id = init_session(ingest)
    response = api.get(f"/api/v1/sessions/{secure_id}/{path}", params={name: value})
    assert_error_response(response, 400, mentions=name)
    assert get_json(api, f"/api/v1/sessions/{secure_id}/{path}")[key] == []
