"""Errors and error groups of the read API, from errors a real server processed.

Proven here:

* occurrences of one error whose messages differ only in numbers and whose stack frames
  differ only in line numbers form one group (count and distinct sessions aggregated), and a
  different error forms another;
* groups are listed most recently seen first, and a group's message and `latest` are those
  of its most recent occurrence; one group lists its recent occurrences and their sessions;
* `/errors` lists occurrences newest first, filtered by fingerprint;
* errors sent with pushBackendPayload appear with source "backend", with or without a
  session;
* groups and occurrences paginate by cursor, every item exactly once, and a cursor the API
  did not make is a 400;
* an unknown fingerprint is 404, one shared by several projects needs `?project=`.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from footlight.store import Project
from tests.helpers.api import assert_error_response, get_json, session_ids
from tests.helpers.events import APP, active_for, backend_error, page_error
from tests.helpers.graphql import push_backend_errors, record
from tests.helpers.servers import Server, http_client
from tests.helpers.store import new_project
from tests.helpers.waiting import wait_for_processing

# Error timestamps as the SDK sends them, and the epoch ms they stand for.
AT_21 = ("2026-11-26T03:41:21Z", 1_795_664_481_000)
AT_25 = ("2026-11-26T03:41:25Z", 1_795_664_485_000)
AT_29 = ("2026-11-26T03:41:29Z", 1_795_664_489_000)


@dataclass(frozen=True)
class Grouped:
    """Three sessions of one project. first: "Timeout after 1200 ms" at line 10 (the latest
    occurrence, :29, though stored first); second: "Timeout after 45 ms" at line 99 (:21);
    third: "payment declined" (:25)."""

    project: Project
    first: str
    second: str
    third: str


@pytest.fixture(scope="module")
def grouped(api_server: Server) -> Grouped:
    project = new_project(api_server, "grouping")
    with http_client(base_url=api_server.url, timeout=30) as sdk:
        first = record(
            sdk,
            project,
            active_for(1),
            errors=[page_error("Timeout after 1200 ms", line=10, timestamp=AT_29[0])],
        )
        # Stored (and so numbered) first, so that neither storage order nor ids can pass for
        # time order below.
        wait_for_processing(api_server)
        second = record(
            sdk,
            project,
            active_for(1),
            errors=[page_error("Timeout after 45 ms", line=99, timestamp=AT_21[0])],
        )
        third = record(
            sdk,
            project,
            active_for(1),
            errors=[page_error("payment declined", line=10, timestamp=AT_25[0])],
        )
    wait_for_processing(api_server)
    return Grouped(project, first, second, third)


def _groups(api: httpx.Client, project: Project, **params: Any) -> list[dict[str, Any]]:
    body = get_json(api, "/api/v1/error-groups", project=str(project.id), **params)
    groups: list[dict[str, Any]] = body["error_groups"]
    return groups


def _fingerprint_of(api: httpx.Client, secure_id: str) -> str:
    errors = get_json(api, f"/api/v1/sessions/{secure_id}/errors")["errors"]
    assert len(errors) == 1
    return str(errors[0]["fingerprint"])


def test_one_error_with_other_numbers_and_lines_is_one_group(
    api: httpx.Client, grouped: Grouped
) -> None:
    timeout = _fingerprint_of(api, grouped.first)
    assert _fingerprint_of(api, grouped.second) == timeout
    declined = _fingerprint_of(api, grouped.third)
    assert declined != timeout

    summary = [
        (g["fingerprint"], g["type"], g["count"], g["sessions"], g["first_seen"], g["last_seen"])
        for g in _groups(api, grouped.project)
    ]
    assert summary == [
        (timeout, "window.onerror", 2, 2, AT_21[1], AT_29[1]),
        (declined, "window.onerror", 1, 1, AT_25[1], AT_25[1]),
    ]


def test_a_group_shows_its_most_recent_occurrence(api: httpx.Client, grouped: Grouped) -> None:
    group = _groups(api, grouped.project)[0]
    assert group["message"] == "Timeout after 1200 ms"
    assert group["latest"] == {
        "timestamp": AT_29[1],
        "type": "window.onerror",
        "message": "Timeout after 1200 ms",
        "frames": [
            {"file_name": f"{APP}/app.js", "function_name": "f", "line_number": 10,
             "column_number": 5, "source": None}
        ],
        "url": f"{APP}/",
        "payload": None,
        "source": "payload",
        # A browser's error: no backend service reported it.
        "service_name": None,
        "service_version": None,
        "environment": None,
    }  # fmt: skip


def test_one_group_lists_its_occurrences_and_sessions(api: httpx.Client, grouped: Grouped) -> None:
    fingerprint = _fingerprint_of(api, grouped.first)
    group = get_json(api, f"/api/v1/error-groups/{fingerprint}", project=str(grouped.project.id))
    assert (group["fingerprint"], group["project_id"]) == (fingerprint, grouped.project.id)
    assert (group["count"], group["sessions"]) == (2, 2)
    assert group["session_ids"] == sorted([grouped.first, grouped.second])
    occurrences = [
        (e["session_secure_id"], e["message"], e["frames"][0]["line_number"], e["fingerprint"])
        for e in group["recent"]
    ]
    assert sorted(occurrences) == sorted(
        [
            (grouped.first, "Timeout after 1200 ms", 10, fingerprint),
            (grouped.second, "Timeout after 45 ms", 99, fingerprint),
        ]
    )
    ids = [e["id"] for e in group["recent"]]
    assert ids == sorted(ids, reverse=True)


def test_errors_are_filtered_by_fingerprint(api: httpx.Client, grouped: Grouped) -> None:
    fingerprint = _fingerprint_of(api, grouped.first)
    project = str(grouped.project.id)
    everything = get_json(api, "/api/v1/errors", project=project)["errors"]
    assert {e["session_secure_id"] for e in everything} == {
        grouped.first,
        grouped.second,
        grouped.third,
    }
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True), "newest first"

    matching = get_json(api, "/api/v1/errors", project=project, fingerprint=fingerprint)["errors"]
    assert {e["session_secure_id"] for e in matching} == {grouped.first, grouped.second}
    assert {e["fingerprint"] for e in matching} == {fingerprint}
    # Without a project, the filter still holds (whatever other projects hold).
    anywhere = get_json(api, "/api/v1/errors", fingerprint=fingerprint, limit=200)["errors"]
    assert {e["fingerprint"] for e in anywhere} == {fingerprint}
    assert get_json(api, "/api/v1/errors", fingerprint="0000000000000000")["errors"] == []


def test_an_unknown_fingerprint_is_404(api: httpx.Client) -> None:
    assert_error_response(api.get("/api/v1/error-groups/0000000000000000"), 404, "0000000000000000")


def test_backend_errors_appear_with_source_backend(
    api: httpx.Client, ingest: httpx.Client, api_server: Server
) -> None:
    project = new_project(api_server, "backend")
    secure_id = record(ingest, project, active_for(1))
    push_backend_errors(
        ingest,
        project,
        [
            backend_error("db down", secure_id, "2026-11-26T03:41:30Z"),
            backend_error("queue full", None, "2026-11-26T03:41:31Z"),
        ],
    )
    wait_for_processing(api_server)

    errors = get_json(api, "/api/v1/errors", project=str(project.id))["errors"]
    assert [
        (e["message"], e["session_secure_id"], e["source"], e["type"], e["project_id"])
        for e in sorted(errors, key=lambda e: e["timestamp"])
    ] == [
        ("db down", secure_id, "backend", "Backend", project.id),
        ("queue full", None, "backend", "Backend", project.id),
    ]
    for error in errors:
        assert error["url"] == "/api/pay"
        assert error["frames"] == [
            {"file_name": "server.py", "function_name": "pay", "line_number": 7,
             "column_number": None, "source": None}
        ]  # fmt: skip

    in_session = get_json(api, f"/api/v1/sessions/{secure_id}/errors")["errors"]
    assert [(e["message"], e["source"]) for e in in_session] == [("db down", "backend")]
    assert session_ids(api, project=str(project.id), has_errors="true") == {secure_id}
    groups = _groups(api, project)
    assert [(g["message"], g["count"], g["sessions"]) for g in groups] == [
        ("queue full", 1, 0),
        ("db down", 1, 1),
    ]


# -- pagination ------------------------------------------------------------------------------

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"]


@pytest.fixture(scope="module")
def seven_groups(api_server: Server) -> Project:
    """Seven different errors of one project; echo, foxtrot and golf were last seen at the
    same instant (so only their fingerprints order them)."""
    project = new_project(api_server, "error pages")
    errors = [
        page_error(f"{word} failed", function=word, timestamp=f"2026-11-26T03:42:{min(i, 4):02d}Z")
        for i, word in enumerate(WORDS)
    ]
    with http_client(base_url=api_server.url, timeout=30) as sdk:
        record(sdk, project, active_for(1), errors=errors)
    wait_for_processing(api_server)
    return project


def _pages(api: httpx.Client, path: str, key: str, **params: Any) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        body = get_json(api, path, **query)
        pages.append(body[key])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 1000, "pagination does not end"


def test_error_groups_paginate_by_cursor(api: httpx.Client, seven_groups: Project) -> None:
    everything = _groups(api, seven_groups)
    assert len(everything) == 7
    order = [(-g["last_seen"], g["fingerprint"]) for g in everything]
    assert order == sorted(order), "most recently seen first, then by fingerprint"

    pages = _pages(
        api, "/api/v1/error-groups", "error_groups", project=str(seven_groups.id), limit=3
    )
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [g["fingerprint"] for p in pages for g in p] == [g["fingerprint"] for g in everything]


def test_errors_paginate_by_cursor(api: httpx.Client, seven_groups: Project) -> None:
    pages = _pages(api, "/api/v1/errors", "errors", project=str(seven_groups.id), limit=2)
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    ids = [e["id"] for p in pages for e in p]
    assert ids == sorted(ids, reverse=True)
    assert sorted(e["message"] for p in pages for e in p) == [f"{w} failed" for w in WORDS]


def _cursor(parts: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("path", "cursor"),
    [
        ("/api/v1/errors", "garbage"),
        ("/api/v1/errors", _cursor([])),
        ("/api/v1/errors", _cursor(["a"])),
        ("/api/v1/errors", _cursor([10**30])),
        ("/api/v1/error-groups", _cursor([1])),
        ("/api/v1/error-groups", _cursor([1, 2])),
        ("/api/v1/error-groups", _cursor(["x", "y"])),
    ],
)
def test_a_cursor_the_api_did_not_make_is_400(api: httpx.Client, path: str, cursor: str) -> None:
    assert_error_response(api.get(path, params={"cursor": cursor}), 400, "cursor")


# -- one error in several projects -----------------------------------------------------------


@pytest.fixture(scope="module")
def shared_error(api_server: Server) -> tuple[Project, Project, str]:
    """The same error, at the same instant, in two projects; returns them and its fingerprint.

    Both groups have the same last_seen, so they tie in the list of groups.
    """
    first, second = new_project(api_server, "shared A"), new_project(api_server, "shared B")
    error = page_error("quota exceeded", timestamp="2030-01-01T00:00:00Z")
    with http_client(base_url=api_server.url, timeout=30) as sdk:
        secure_id = record(sdk, first, active_for(1), errors=[error])
        record(sdk, second, active_for(1), errors=[error])
    wait_for_processing(api_server)
    return first, second, secure_id


def test_a_fingerprint_in_several_projects_needs_a_project(
    api: httpx.Client, shared_error: tuple[Project, Project, str]
) -> None:
    first, second, secure_id = shared_error
    fingerprint = _fingerprint_of(api, secure_id)
    assert_error_response(api.get(f"/api/v1/error-groups/{fingerprint}"), 400, "several projects")
    for project in (first, second):
        group = get_json(api, f"/api/v1/error-groups/{fingerprint}", project=str(project.id))
        assert (group["project_id"], group["count"]) == (project.id, 1)


def test_error_group_pages_keep_one_error_of_two_projects_apart(
    api: httpx.Client, shared_error: tuple[Project, Project, str]
) -> None:
    # One group a page across everything on the shared server: the two groups tie on
    # last_seen, so only the cursor's tie-break keeps them from being skipped or repeated.
    first, second, secure_id = shared_error
    fingerprint = _fingerprint_of(api, secure_id)
    seen = [
        (g["project_id"], g["fingerprint"])
        for page in _pages(api, "/api/v1/error-groups", "error_groups", limit=1)
        for g in page
    ]
    assert len(seen) == len(set(seen)), "a group was listed twice"
    ours = [i for i, group in enumerate(seen) if group[1] == fingerprint]
    assert sorted(seen[i] for i in ours) == [(first.id, fingerprint), (second.id, fingerprint)]
    assert ours[1] == ours[0] + 1, "the two tied groups are not next to each other"
