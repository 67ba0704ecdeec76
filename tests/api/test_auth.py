"""Who may read what through /api/v1, over real HTTP with tokens made by the real CLI.

Proven here:

* every operation the OpenAPI document describes answers 401 with `WWW-Authenticate: Bearer`
  and the API's error shape without a token, with an unknown one, with a malformed
  Authorization header, with a valid secret under another scheme, and with a revoked token;
  a refused DELETE deletes nothing;
* `footlight token list` shows ids, names and scopes but never a secret, and `footlight token
  revoke ID` ends a token at once;
* a token scoped to project A gets 403 for a session of project B on every session route
  (and its DELETE deletes nothing) and for `?project=B` on every list, and its unfiltered
  lists hold project A's sessions, errors, error groups and project only;
* a token of all projects sees both projects;
* a token's scope: `read` (the default) reads everything it may read but gets 403 naming the
  admin scope on DELETE, which then deletes nothing; an `admin` token deletes; a scope other
  than these is refused by the CLI; the OpenAPI document says which operations need admin;
* the database never holds a token in clear text, only its SHA-256.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from footlight.core.ids import encode_project
from footlight.store import Project
from tests.helpers.api import assert_error_response, get_json
from tests.helpers.cli import create_token, footlight, footlight_ok
from tests.helpers.events import active_for, page_error
from tests.helpers.graphql import record
from tests.helpers.servers import Server, bearer_client, http_client
from tests.helpers.store import db_rows, new_project
from tests.helpers.waiting import wait_for_processing

SESSION_READS = ["", "/events", "/console", "/network", "/errors", "/track", "/feedback"]
LISTS = ["/api/v1/sessions", "/api/v1/errors", "/api/v1/error-groups"]


@dataclass(frozen=True)
class TwoProjects:
    """Projects A and B with one processed session each, each with an error of its own."""

    a: Project
    b: Project
    session_a: str
    session_b: str
    fingerprint_a: str
    fingerprint_b: str
    token_a: str
    """Reads (and may delete in) project A only (`--project A --scope admin`)."""


@pytest.fixture(scope="module")
def two(api_server: Server, admin_token: str) -> TwoProjects:
    a, b = new_project(api_server, "team A"), new_project(api_server, "team B")
    with http_client(base_url=api_server.url, timeout=30) as sdk:
        session_a = record(sdk, a, active_for(1), errors=[page_error("alpha broke")])
        session_b = record(sdk, b, active_for(1), errors=[page_error("bravo broke")])
    wait_for_processing(api_server)
    with bearer_client(api_server, admin_token) as api:
        fingerprint_a, fingerprint_b = (
            str(get_json(api, f"/api/v1/sessions/{sid}/errors")["errors"][0]["fingerprint"])
            for sid in (session_a, session_b)
        )
    # Admin, so that its DELETE of another project's session is refused for the project.
    token_a = create_token(api_server, project=str(a.id), scope="admin")
    return TwoProjects(a, b, session_a, session_b, fingerprint_a, fingerprint_b, token_a)


@pytest.fixture(scope="module")
def operations(api_server: Server, admin_token: str, two: TwoProjects) -> list[tuple[str, str]]:
    """(method, url) of every operation in the OpenAPI document, placeholders filled with
    project B's session and error group."""
    with bearer_client(api_server, admin_token) as api:
        document = get_json(api, "/api/v1/openapi.json")
    values = {
        "secure_id": two.session_b,
        "fingerprint": two.fingerprint_b,
        "trace_id": "0" * 32,
        "digest": "0" * 64,
    }
    found = [
        (method.upper(), re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path))
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch")
    ]
    assert ("DELETE", f"/api/v1/sessions/{two.session_b}") in found
    assert len(found) >= 14
    return found


@pytest.fixture
def client_a(api_server: Server, two: TwoProjects) -> Iterator[httpx.Client]:
    with bearer_client(api_server, two.token_a) as client:
        yield client


def assert_unauthenticated(response: httpx.Response) -> None:
    assert_error_response(response, 401)
    assert response.json()["error"]["code"] == "UNAUTHENTICATED"
    assert response.headers["www-authenticate"].startswith("Bearer")


def all_items(client: httpx.Client, path: str, key: str, **params: str) -> list[dict[str, Any]]:
    """Every item of a paginated list, following `next_cursor`."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        body = get_json(client, path, limit=200, **params, **({"cursor": cursor} if cursor else {}))
        items.extend(body[key])
        cursor = body["next_cursor"]
        if cursor is None:
            return items


# -- 401 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer flt_not-a-token-this-server-made",
        "Basic x",
        "Bearer",
        "Bearer {admin}x",  # one character more than a valid token
        "Bearer {admin} {admin}",
        "Token {admin}",  # a valid secret under another scheme
        "{admin}",  # no scheme at all
    ],
)
def test_every_operation_needs_a_valid_bearer_token(
    api_server: Server,
    api: httpx.Client,
    admin_token: str,
    two: TwoProjects,
    operations: list[tuple[str, str]],
    authorization: str | None,
) -> None:
    headers = (
        {} if authorization is None else {"authorization": authorization.format(admin=admin_token)}
    )
    with http_client(base_url=api_server.url, timeout=30) as anonymous:
        for method, url in operations:
            response = anonymous.request(method, url, headers=headers)
            assert response.status_code == 401, f"{method} {url}: {response.status_code}"
            assert_unauthenticated(response)
    # The refused DELETE deleted nothing.
    assert get_json(api, f"/api/v1/sessions/{two.session_b}")["secure_id"] == two.session_b


def test_a_revoked_token_is_refused_everywhere(
    api_server: Server, api: httpx.Client, two: TwoProjects, operations: list[tuple[str, str]]
) -> None:
    created = footlight_ok(api_server, "token", "create", "--name", "short-lived")
    secret = created.stdout.strip()
    token_id = re.search(r"token (\d+) ", created.stderr)
    assert token_id is not None, created.stderr
    with bearer_client(api_server, secret) as client:
        assert client.get("/api/v1/projects").status_code == 200

        listed = footlight_ok(api_server, "token", "list").stdout
        assert re.search(
            rf"^\s*{token_id[1]}\s+short-lived\s+read\s+all projects$", listed, re.M
        ), listed
        assert secret not in listed
        assert secret.removeprefix("flt_") not in listed

        revoked = footlight_ok(api_server, "token", "revoke", token_id[1])
        assert revoked.stdout.strip() == f"token {token_id[1]} revoked"

        for method, url in operations:
            assert_unauthenticated(client.request(method, url))
    assert "short-lived" not in footlight_ok(api_server, "token", "list").stdout
    assert get_json(api, f"/api/v1/sessions/{two.session_b}")["secure_id"] == two.session_b


def test_revoking_an_unknown_token_exits_2(api_server: Server) -> None:
    done = footlight(api_server, "token", "revoke", "999999")
    assert done.returncode == 2
    assert "no token 999999" in done.stderr


def test_token_list_shows_ids_and_scopes_never_secrets(
    api_server: Server, admin_token: str, two: TwoProjects
) -> None:
    listed = footlight_ok(api_server, "token", "list").stdout
    assert re.search(r"^\s*\d+\s+admin\s+admin\s+all projects$", listed, re.M), listed
    assert re.search(rf"^\s*\d+\s+api\s+admin\s+project {two.a.id}$", listed, re.M), listed
    for secret in (admin_token, two.token_a):
        assert secret not in listed
        assert secret.removeprefix("flt_") not in listed


# -- 403 and scoping -------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", SESSION_READS)
def test_a_project_token_cannot_read_another_projects_session(
    client_a: httpx.Client, two: TwoProjects, suffix: str
) -> None:
    refused = client_a.get(f"/api/v1/sessions/{two.session_b}{suffix}")
    assert_error_response(refused, 403)
    assert refused.json()["error"]["code"] == "FORBIDDEN"
    # The same read of its own project's session is allowed.
    assert client_a.get(f"/api/v1/sessions/{two.session_a}{suffix}").status_code == 200


def test_a_project_token_cannot_delete_another_projects_session(
    client_a: httpx.Client, api: httpx.Client, two: TwoProjects
) -> None:
    before = api.get(f"/api/v1/sessions/{two.session_b}/events").content
    assert_error_response(client_a.delete(f"/api/v1/sessions/{two.session_b}"), 403)
    assert get_json(api, f"/api/v1/sessions/{two.session_b}")["project_id"] == two.b.id
    assert api.get(f"/api/v1/sessions/{two.session_b}/events").content == before
    assert get_json(api, f"/api/v1/sessions/{two.session_b}/errors")["errors"] != []


@pytest.mark.parametrize("path", LISTS)
def test_a_project_token_cannot_list_another_project(
    client_a: httpx.Client, two: TwoProjects, path: str
) -> None:
    for project in (str(two.b.id), encode_project(two.b.id)):
        assert_error_response(client_a.get(path, params={"project": project}), 403)
    for project in (str(two.a.id), encode_project(two.a.id)):
        assert client_a.get(path, params={"project": project}).status_code == 200


def test_a_project_token_cannot_read_another_projects_error_group(
    client_a: httpx.Client, two: TwoProjects
) -> None:
    forbidden = client_a.get(
        f"/api/v1/error-groups/{two.fingerprint_b}", params={"project": str(two.b.id)}
    )
    assert_error_response(forbidden, 403)
    # Without ?project= it looks in project A only, where there is no such group.
    assert_error_response(client_a.get(f"/api/v1/error-groups/{two.fingerprint_b}"), 404)
    own = get_json(client_a, f"/api/v1/error-groups/{two.fingerprint_a}")
    assert (own["project_id"], own["session_ids"]) == (two.a.id, [two.session_a])


def test_a_project_tokens_lists_hold_only_its_project(
    client_a: httpx.Client, two: TwoProjects
) -> None:
    sessions = all_items(client_a, "/api/v1/sessions", "sessions")
    assert {s["project_id"] for s in sessions} == {two.a.id}
    assert two.session_a in {s["secure_id"] for s in sessions}

    errors = all_items(client_a, "/api/v1/errors", "errors")
    assert {e["project_id"] for e in errors} == {two.a.id}
    assert {e["session_secure_id"] for e in errors} == {two.session_a}

    groups = all_items(client_a, "/api/v1/error-groups", "error_groups")
    assert [(g["project_id"], g["fingerprint"]) for g in groups] == [(two.a.id, two.fingerprint_a)]

    projects = get_json(client_a, "/api/v1/projects")["projects"]
    assert [(p["id"], p["verbose_id"], p["name"]) for p in projects] == [
        (two.a.id, encode_project(two.a.id), "team A")
    ]


def test_an_all_projects_token_sees_both_projects(api: httpx.Client, two: TwoProjects) -> None:
    sessions = {s["secure_id"] for s in all_items(api, "/api/v1/sessions", "sessions")}
    assert {two.session_a, two.session_b} <= sessions
    errors = {e["session_secure_id"] for e in all_items(api, "/api/v1/errors", "errors")}
    assert {two.session_a, two.session_b} <= errors
    groups = {
        (g["project_id"], g["fingerprint"])
        for g in all_items(api, "/api/v1/error-groups", "error_groups")
    }
    assert {(two.a.id, two.fingerprint_a), (two.b.id, two.fingerprint_b)} <= groups
    projects = {p["id"] for p in get_json(api, "/api/v1/projects")["projects"]}
    assert {two.a.id, two.b.id} <= projects
    for secure_id in (two.session_a, two.session_b):
        for suffix in SESSION_READS:
            assert api.get(f"/api/v1/sessions/{secure_id}{suffix}").status_code == 200


def test_a_token_can_be_scoped_by_verbose_project_id(api_server: Server, two: TwoProjects) -> None:
    token = create_token(api_server, project=encode_project(two.b.id))
    with bearer_client(api_server, token) as client:
        assert [p["id"] for p in get_json(client, "/api/v1/projects")["projects"]] == [two.b.id]
        assert client.get(f"/api/v1/sessions/{two.session_b}").status_code == 200
        assert_error_response(client.get(f"/api/v1/sessions/{two.session_a}"), 403)


# -- scopes ----------------------------------------------------------------------------------


def test_a_read_token_reads_but_cannot_delete(
    api_server: Server, api: httpx.Client, two: TwoProjects
) -> None:
    reader = create_token(api_server)  # read is the default
    with bearer_client(api_server, reader) as client:
        for suffix in SESSION_READS:
            assert client.get(f"/api/v1/sessions/{two.session_b}{suffix}").status_code == 200
        for path in LISTS:
            assert client.get(path).status_code == 200
        refused = client.delete(f"/api/v1/sessions/{two.session_b}")
        assert_error_response(refused, 403, mentions="needs a token with the admin scope")
        assert "--scope admin" in refused.json()["error"]["message"]
        # Refused before the session is looked up: an unknown one is no different.
        assert_error_response(client.delete("/api/v1/sessions/no-such-session"), 403)
    assert get_json(api, f"/api/v1/sessions/{two.session_b}")["secure_id"] == two.session_b
    assert get_json(api, f"/api/v1/sessions/{two.session_b}/errors")["errors"] != []


def test_an_admin_token_deletes(api_server: Server, api: httpx.Client) -> None:
    project = new_project(api_server, "deletable")
    with http_client(base_url=api_server.url, timeout=30) as sdk:
        doomed = record(sdk, project, active_for(1))
    with bearer_client(api_server, create_token(api_server, scope="admin")) as admin:
        assert admin.delete(f"/api/v1/sessions/{doomed}").status_code == 204
    assert_error_response(api.get(f"/api/v1/sessions/{doomed}"), 404)


def test_the_cli_refuses_an_unknown_scope(api_server: Server) -> None:
    done = footlight(api_server, "token", "create", "--scope", "root")
    assert done.returncode == 2
    assert "invalid choice: 'root'" in done.stderr
    assert "root" not in footlight_ok(api_server, "token", "list").stdout


def test_the_openapi_document_says_which_operations_need_admin(api: httpx.Client) -> None:
    document = get_json(api, "/api/v1/openapi.json")
    assert document["security"] == [{"bearer": []}]
    needs_admin = {
        (method, path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if operation.get("security") == [{"bearer": ["admin"]}]
    }
    assert needs_admin == {("delete", "/api/v1/sessions/{secure_id}")}
    assert "admin" in document["paths"]["/api/v1/sessions/{secure_id}"]["delete"]["summary"]


# -- storage ---------------------------------------------------------------------------------


def test_the_database_holds_no_token_in_clear_text(
    api_server: Server, admin_token: str, two: TwoProjects
) -> None:
    if api_server.store_url is None:
        stored = b"".join(
            path.read_bytes() for path in sorted(api_server.data_dir.glob("footlight.db*"))
        )
    else:  # every column of every token row, where a leak would be
        rows = db_rows(api_server.data_dir, "SELECT * FROM api_tokens")
        stored = b"".join(v if isinstance(v, bytes) else str(v).encode() for r in rows for v in r)
    assert len(stored) > 0
    for token in (admin_token, two.token_a):
        # Each token is there, hashed: the search below looks where tokens are kept.
        assert hashlib.sha256(token.encode()).digest() in stored
        assert token.encode() not in stored
        assert token.removeprefix("flt_").encode() not in stored
