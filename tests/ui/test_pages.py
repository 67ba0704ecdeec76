"""The UI over plain HTTP: what needs a sign-in, what the login form accepts (and refuses:
cross-site posts, bodies sent too slowly), the cookie and what the store keeps of it, the
headers of every page, filters (a NUL in any of them is a 400) and pagination of the session
list, the scope a sign-in carries, and what a token scoped to another project is shown."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from footlight.api.auth import hash_token
from footlight.ui.pages import PANE_ROWS
from tests.helpers.cli import footlight_ok
from tests.helpers.events import T0, active_for, page_error
from tests.helpers.graphql import init_session, record
from tests.helpers.otlp import traced_request
from tests.helpers.servers import Server, http_client, http_get, http_post, running
from tests.helpers.store import db_rows, new_project, with_store
from tests.helpers.ui import new_token, sign_in, signed_in_client
from tests.helpers.waiting import wait_for_processing

PAGES = ["/ui/sessions", "/ui/sessions/AbCdEf", "/ui/errors", "/ui/errors/0123abcd", "/ui/logs"]


def login_location(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    return response.headers["location"]


# -- what needs a sign-in ----------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_every_page_needs_a_sign_in_and_comes_back_after_it(ui_server: Server, path: str) -> None:
    asked = f"{path}?user=ada"
    response = http_get(ui_server.url + asked, follow_redirects=False)
    assert login_location(response) == "/ui/login?" + urllib.parse.urlencode({"next": asked})


def test_the_events_of_a_session_need_a_sign_in(ui_server: Server) -> None:
    response = http_get(f"{ui_server.url}/ui/sessions/AbCdEf/events")
    assert response.status_code == 401
    assert "sign in" in response.json()["error"]


def test_the_ui_root_leads_to_the_session_list(ui_server: Server) -> None:
    for root in ("/ui", "/ui/"):
        response = http_get(ui_server.url + root, follow_redirects=False)
        assert login_location(response) == "/ui/sessions"


def test_unknown_ui_paths_and_methods_are_refused(admin: httpx.Client) -> None:
    assert admin.get("/ui/nowhere").status_code == 404
    assert admin.post("/ui/sessions").status_code == 405
    assert admin.get("/ui/logout").status_code == 405


def test_static_files_and_the_pinned_player_are_served(ui_server: Server) -> None:
    for path, kind in (
        ("/ui/static/footlight.css", "text/css"),
        ("/ui/static/session.js", "javascript"),
        ("/ui/static/vendor/rrweb-player.js", "javascript"),
        ("/ui/static/vendor/rrweb-player.css", "text/css"),
    ):
        response = http_get(ui_server.url + path)
        assert response.status_code == 200, path
        assert kind in response.headers["content-type"], path
    assert b"rrwebPlayer" in http_get(f"{ui_server.url}/ui/static/vendor/rrweb-player.js").content


# -- the login form ----------------------------------------------------------------------------


def test_the_login_form_refuses_what_is_not_a_small_urlencoded_form(ui_server: Server) -> None:
    url = f"{ui_server.url}/ui/login"
    before = db_rows(ui_server.data_dir, "SELECT count(*) FROM ui_sessions")
    wrong_type = http_post(url, content=b"token=x", headers={"content-type": "text/plain"})
    assert wrong_type.status_code == 415
    assert "x-www-form-urlencoded" in wrong_type.text
    too_big = http_post(url, data={"token": "x" * 10_000})
    assert too_big.status_code == 413
    assert "larger than 8192 bytes" in too_big.text
    empty = http_post(url, data={"token": " "})
    assert empty.status_code == 400
    assert "paste an API token" in empty.text
    not_utf8 = http_post(
        url, content=b"token=%ff\xff", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert not_utf8.status_code == 400
    unknown = http_post(url, data={"token": "flt_unknown"})
    assert unknown.status_code == 401
    assert "unknown or revoked token" in unknown.text
    for refused in (wrong_type, too_big, empty, not_utf8, unknown):
        assert "set-cookie" not in refused.headers
    assert db_rows(ui_server.data_dir, "SELECT count(*) FROM ui_sessions") == before


def ui_sessions_count(server: Server) -> int:
    return int(db_rows(server.data_dir, "SELECT count(*) FROM ui_sessions")[0][0])


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"origin": "http://127.0.0.1:1"},  # the same host on another port is another origin
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
        # The browser's verdict wins over an Origin that a proxy's Host rewrite could match.
        {"sec-fetch-site": "cross-site", "origin": "{own}"},
    ],
)
def test_a_sign_in_posted_from_another_site_is_refused(
    ui_server: Server, admin_token: str, headers: dict[str, str]
) -> None:
    own = ui_server.url
    before = ui_sessions_count(ui_server)
    response = sign_in(ui_server, admin_token, {k: v.format(own=own) for k, v in headers.items()})
    assert response.status_code == 403
    assert "sent from another site" in response.text
    assert "set-cookie" not in response.headers
    assert ui_sessions_count(ui_server) == before


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no browser: curl, a script
        {"origin": "{own}"},
        {"sec-fetch-site": "same-origin", "origin": "{own}"},
        {"sec-fetch-site": "none"},  # typed by the user
    ],
)
def test_a_sign_in_from_the_ui_itself_is_accepted(
    ui_server: Server, admin_token: str, headers: dict[str, str]
) -> None:
    own = ui_server.url
    response = sign_in(ui_server, admin_token, {k: v.format(own=own) for k, v in headers.items()})
    assert login_location(response) == "/ui/sessions"
    assert "footlight_ui" in response.cookies


def test_a_sign_out_posted_from_another_site_is_refused(
    ui_server: Server, admin_token: str
) -> None:
    with signed_in_client(ui_server, admin_token) as client:
        for headers in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}):
            refused = client.post("/ui/logout", headers=headers)
            assert refused.status_code == 403
            assert "sent from another site" in refused.text
            assert client.get("/ui/sessions").status_code == 200  # still signed in
        signed_out = client.post("/ui/logout", headers={"sec-fetch-site": "same-origin"})
        assert login_location(signed_out) == "/ui/login"


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[Server]:
    """A server that waits 1 s for a request body."""
    with running(
        tmp_path_factory, "ui-impatient", backend, {"FOOTLIGHT_BODY_TIMEOUT_SECONDS": "1"}
    ) as server:
        yield server


def test_a_login_form_sent_too_slowly_is_408(impatient: Server) -> None:
    token = new_token(impatient)
    body = urllib.parse.urlencode({"token": token, "next": "/ui/sessions"}).encode()
    parts = urllib.parse.urlsplit(impatient.url)
    head = (
        f"POST /ui/login HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    answer = b""
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head)
        # One byte every 0.3 s (the whole form would take 30 s; 1 s is allowed), until the
        # server answers; then what it says.
        sock.settimeout(0.3)
        for byte in body[:30]:
            try:
                sock.sendall(bytes([byte]))
                answer += sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break  # the server answered and closed
            break
        sock.settimeout(10)
        try:
            while b"</html>" not in answer and (chunk := sock.recv(65536)):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"body_timeout_seconds" in answer
    assert b"set-cookie" not in answer.lower()
    assert ui_sessions_count(impatient) == 0


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/ui/sessions", name)
        for name in ("project", "from", "to", "user", "has_errors", "url", "environment")
    ]
    + [("/ui/sessions", "min_active_seconds"), ("/ui/sessions", "cursor")]
    + [("/ui/errors", "project"), ("/ui/errors", "cursor")]
    + [("/ui/logs", name) for name in ("project", "q", "service", "session", "from", "cursor")],
)
def test_a_nul_in_any_filter_is_400_naming_it(
    ui_server: Server, admin: httpx.Client, path: str, name: str
) -> None:
    with http_client(base_url=ui_server.url, timeout=30) as sdk:
        init_session(sdk)  # a session that `user=%00` would have matched on SQLite
    response = admin.get(path, params={name: "\x00"})
    assert response.status_code == 400
    assert f"{name} must not contain a NUL character" in response.text


def test_a_sign_in_carries_its_tokens_scope(ui_server: Server) -> None:
    for scope in ("read", "admin"):
        token = new_token(ui_server, scope=scope)
        with signed_in_client(ui_server, token) as client:
            page = client.get("/ui/sessions")
            assert page.status_code == 200
            assert f"token “ui-test” ({scope})" in page.text


@pytest.mark.parametrize(
    ("asked", "sent_to"),
    [
        ("/ui/errors?project=1", "/ui/errors?project=1"),
        ("https://elsewhere.example/", "/ui/sessions"),
        ("//elsewhere.example/ui/", "/ui/sessions"),
        ("/ui//elsewhere.example/", "/ui/sessions"),
        ("/api/v1/sessions", "/ui/sessions"),
        ("", "/ui/sessions"),
    ],
)
def test_the_login_form_only_sends_the_browser_on_within_the_ui(
    ui_server: Server, admin_token: str, asked: str, sent_to: str
) -> None:
    response = http_post(f"{ui_server.url}/ui/login", data={"token": admin_token, "next": asked})
    assert login_location(response) == sent_to


def test_a_signed_in_browser_skips_the_login_form(admin: httpx.Client) -> None:
    response = admin.get("/ui/login", params={"next": "/ui/errors"})
    assert login_location(response) == "/ui/errors"


# -- the cookie --------------------------------------------------------------------------------


def cookie_header(response: httpx.Response) -> str:
    (header,) = response.headers.get_list("set-cookie")
    return header


def test_the_cookie_is_httponly_strict_scoped_and_secure_on_loopback(
    ui_server: Server, admin_token: str
) -> None:
    header = cookie_header(sign_in(ui_server, admin_token))
    attributes = {a.strip().split("=")[0].lower() for a in header.split(";")[1:]}
    assert {"httponly", "secure", "path", "samesite", "max-age"} <= attributes
    assert "SameSite=strict" in header or "SameSite=Strict" in header
    assert "Path=/ui" in header


def test_over_https_behind_a_local_proxy_the_cookie_is_secure(
    ui_server: Server, admin_token: str
) -> None:
    header = cookie_header(
        sign_in(
            ui_server,
            admin_token,
            {"host": "footlight.example", "x-forwarded-proto": "https"},
        )
    )
    assert "Secure" in header


def test_over_plain_http_to_another_host_the_login_form_warns(
    ui_server: Server, admin_token: str
) -> None:
    form = http_get(f"{ui_server.url}/ui/login", headers={"host": "footlight.example"})
    assert "unencrypted" in form.text
    assert "unencrypted" not in http_get(f"{ui_server.url}/ui/login").text
    # The cookie cannot be Secure there, or the browser would never send it back.
    header = cookie_header(sign_in(ui_server, admin_token, {"host": "footlight.example"}))
    assert "Secure" not in header
    assert "HttpOnly" in header


def test_the_store_keeps_only_a_hash_of_the_cookie(ui_server: Server, admin_token: str) -> None:
    value = sign_in(ui_server, admin_token).cookies["footlight_ui"]
    stored = [bytes(r[0]) for r in db_rows(ui_server.data_dir, "SELECT id_hash FROM ui_sessions")]
    assert hashlib.sha256(value.encode()).digest() in stored
    assert not any(value.encode() in h for h in stored)


def test_revoking_the_token_ends_its_sign_ins(ui_server: Server) -> None:
    token = new_token(ui_server)
    with signed_in_client(ui_server, token) as client:
        assert client.get("/ui/sessions").status_code == 200
        found = with_store(ui_server.data_dir, lambda store: store.token_by_hash(hash_token(token)))
        assert found is not None
        footlight_ok(ui_server, "token", "revoke", str(found.id))
        assert login_location(client.get("/ui/sessions")).startswith("/ui/login")


def test_an_expired_sign_in_leads_back_to_the_login_form(ui_server: Server) -> None:
    with signed_in_client(ui_server, new_token(ui_server)) as client:
        assert client.get("/ui/errors").status_code == 200
        digest = hashlib.sha256(client.cookies["footlight_ui"].encode()).digest()
        db_rows(
            ui_server.data_dir, "UPDATE ui_sessions SET expires_at = 1 WHERE id_hash = ?", [digest]
        )
        assert login_location(client.get("/ui/errors")).startswith("/ui/login")


def test_signing_out_deletes_the_sign_in(ui_server: Server, admin_token: str) -> None:
    with signed_in_client(ui_server, admin_token) as client:
        digest = hashlib.sha256(client.cookies["footlight_ui"].encode()).digest()
        response = client.post("/ui/logout")
        assert login_location(response) == "/ui/login"
        assert 'footlight_ui=""' in cookie_header(response) or "Max-Age=0" in cookie_header(
            response
        )
        rows = db_rows(ui_server.data_dir, "SELECT 1 FROM ui_sessions WHERE id_hash = ?", [digest])
        assert rows == []


# -- pages -------------------------------------------------------------------------------------


def test_pages_forbid_foreign_scripts_framing_and_caching(admin: httpx.Client) -> None:
    for path in ("/ui/sessions", "/ui/errors", "/ui/login"):
        response = admin.get(path, follow_redirects=True)
        assert response.status_code == 200
        policy = response.headers["content-security-policy"]
        assert "script-src 'self';" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-eval" not in policy
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in response.text  # no inline script for the policy to allow


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("has_errors=maybe", "has_errors must be true or false"),
        ("from=yesterday", "from must be epoch milliseconds or an ISO 8601 time"),
        ("min_active_seconds=lots", "min_active_seconds must be an integer"),
        ("cursor=bm90LWEtY3Vyc29y", "cursor is not a cursor this API returned"),
        ("project=not-a-project!", "is not a project id"),
    ],
)
def test_a_bad_filter_is_explained_on_the_page(
    admin: httpx.Client, query: str, message: str
) -> None:
    response = admin.get(f"/ui/sessions?{query}")
    assert response.status_code == 400
    assert message in response.text.replace("&#39;", "'")


def test_text_from_the_sdk_is_escaped(ui_server: Server, admin: httpx.Client) -> None:
    project = new_project(ui_server, "escaping")
    with http_client(base_url=ui_server.url, timeout=30) as sdk:
        secure_id = record(
            sdk,
            project,
            active_for(2),
            errors=[page_error("<script>alert(1)</script>")],
            environment="<b>env</b>",
        )
    wait_for_processing(ui_server)
    listed = admin.get("/ui/sessions", params={"project": project.id}).text
    assert "&lt;b&gt;env&lt;/b&gt;" in listed
    assert "<b>env</b>" not in listed
    page = admin.get(f"/ui/sessions/{secure_id}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page


def session_rows(html: str) -> list[str]:
    return re.findall(r'<tr data-session="(\w+)">', html)


def older_link(html: str) -> str | None:
    match = re.search(r'<a href="([^"]+)" rel="next">', html)
    return None if match is None else match.group(1).replace("&amp;", "&")


def test_the_session_list_pages_newest_first_without_gaps_or_repeats(
    ui_server: Server, admin: httpx.Client
) -> None:
    project = new_project(ui_server, "paging")
    with http_client(base_url=ui_server.url, timeout=30) as sdk:
        started = [init_session(sdk, project=str(project.id)) for _ in range(120)]
    pages: list[list[str]] = []
    link: str | None = f"/ui/sessions?project={project.id}"
    while link is not None:
        response = admin.get(link)
        assert response.status_code == 200
        pages.append(session_rows(response.text))
        link = older_link(response.text)
        assert len(pages) <= 3
    assert [len(p) for p in pages] == [50, 50, 20]
    listed = [s for p in pages for s in p]
    assert listed == list(reversed(started))


def test_a_session_without_a_recording_says_so(ui_server: Server, admin: httpx.Client) -> None:
    project = new_project(ui_server, "no-recording")
    with http_client(base_url=ui_server.url, timeout=30) as sdk:
        secure_id = init_session(sdk, project=str(project.id))
    page = admin.get(f"/ui/sessions/{secure_id}")
    assert page.status_code == 200
    assert "has no recording" in page.text
    assert 'id="player"' not in page.text


def test_a_session_page_lists_its_errors_and_links_their_group(
    ui_server: Server, admin: httpx.Client
) -> None:
    project = new_project(ui_server, "error-links")
    with http_client(base_url=ui_server.url, timeout=30) as sdk:
        secure_id = record(sdk, project, active_for(3), errors=[page_error("checkout exploded")])
    wait_for_processing(ui_server)
    page = admin.get(f"/ui/sessions/{secure_id}").text
    group = re.search(r'href="(/ui/errors/\w+\?project=\d+)"', page)
    assert group is not None
    detail = admin.get(group.group(1).replace("&amp;", "&"))
    assert detail.status_code == 200
    assert "checkout exploded" in detail.text
    link = re.search(rf'href="/ui/sessions/{secure_id}\?t=([\d.]+)"', detail.text)
    assert link is not None
    # The error is at 03:41:21.546, the recording starts at T0 (03:41:19.000).
    assert link.group(1) == "2.5"


def test_the_network_pane_shows_recorded_headers_and_bodies(
    ui_server: Server, admin: httpx.Client
) -> None:
    project = new_project(ui_server, "network-bodies")
    resources = [
        {
            "name": "https://app.example/api/cart",
            "initiatorType": "fetch",
            "startTimeAbs": T0 + 200,
            "responseEndAbs": T0 + 250,
            "requestResponsePairs": {
                "request": {
                    "verb": "POST",
                    "headers": {"content-type": "application/json"},
                    "body": '{"sku": "tea-42"}',
                },
                "response": {
                    "status": 502,
                    "headers": {"x-upstream": "cart-service"},
                    "body": "upstream timed out",
                    "size": 18,
                },
            },
        }
    ]
    with http_client(base_url=ui_server.url, timeout=30) as sdk:
        secure_id = record(sdk, project, active_for(2), resources=resources)
    wait_for_processing(ui_server)
    page = admin.get(f"/ui/sessions/{secure_id}").text
    pane = page[page.index('id="pane-network"') : page.index('id="pane-errors"')]
    assert "https://app.example/api/cart" in pane
    assert f'data-ts="{T0 + 200}"' in pane
    assert '<li class="event bad"' in pane  # a 502
    for shown in ("POST", "502", "content-type: application/json", "x-upstream: cart-service"):
        assert shown in pane, shown
    assert "{&#34;sku&#34;: &#34;tea-42&#34;}" in pane  # the request body, escaped
    assert "upstream timed out" in pane


def test_a_request_whose_trace_a_backend_continued_shows_its_spans_and_errors(
    ui_server: Server, admin: httpx.Client
) -> None:
    project = new_project(ui_server, "traced request")
    trace_id = os.urandom(16).hex()
    with http_client(base_url=ui_server.url, timeout=30) as sdk:
        secure_id = record(sdk, project, active_for(2))
        for signal, export in traced_request(secure_id, project.id, trace_id).items():
            assert sdk.post(f"/v1/{signal}", json=export).status_code == 200
    wait_for_processing(ui_server)
    page = admin.get(f"/ui/sessions/{secure_id}").text
    pane = page[page.index('id="pane-network"') : page.index('id="pane-errors"')]
    trace = pane[pane.index(f'data-trace="{trace_id}"') :]
    # The backend's server span: 40 ms of the request's 50, starting 5 ms in (10 %).
    assert "server 40ms" in trace
    assert 'style="left: 10.0%; width: 80.0%"' in trace
    assert "cart-api · GET /api/cart" in trace
    assert '<li class="bad">' in trace  # it recorded an exception
    group = re.search(r'<a class="backend-error" href="/ui/errors/(\w+)\?project=(\d+)">', trace)
    assert group is not None
    assert group.group(2) == str(project.id)
    assert (
        admin.get(f"/ui/errors/{group.group(1)}", params={"project": project.id}).status_code == 200
    )


def test_a_long_session_page_shows_the_first_rows_and_says_where_the_rest_are(
    ui_server: Server, admin: httpx.Client
) -> None:
    project = new_project(ui_server, "chatty")
    messages = [
        {"type": "log", "trace": [], "value": [f"line {n}"], "time": T0 + n, "attributes": "{}"}
        for n in range(PANE_ROWS + 5)
    ]
    with http_client(base_url=ui_server.url, timeout=30) as sdk:
        secure_id = record(sdk, project, active_for(2), messages=messages)
    wait_for_processing(ui_server)
    page = admin.get(f"/ui/sessions/{secure_id}").text
    pane = page[page.index('id="pane-console"') : page.index('id="pane-network"')]
    assert pane.count('<li class="event level-log"') == PANE_ROWS
    assert f"Console ({PANE_ROWS}+)" in page
    assert f"line {PANE_ROWS - 1}<" in pane
    assert f"line {PANE_ROWS}<" not in pane
    assert f"GET /api/v1/sessions/{secure_id}/console" in pane


def test_odd_shapes_of_recorded_requests_still_render(
    ui_server: Server, admin: httpx.Client
) -> None:
    project = new_project(ui_server, "odd-shapes")
    resources = [
        {
            "name": "https://app.example/odd",
            "initiatorType": "fetch",
            "startTimeAbs": T0 + 100,
            "responseEndAbs": T0 + 120,
            "requestResponsePairs": {
                "request": {"verb": "GET", "headers": "not-a-mapping", "body": {"nested": [1]}},
                "response": {"status": 200, "headers": ["a", "list"], "body": 42},
            },
        }
    ]
    with http_client(base_url=ui_server.url, timeout=30) as sdk:
        secure_id = record(sdk, project, active_for(2), resources=resources)
    wait_for_processing(ui_server)
    page = admin.get(f"/ui/sessions/{secure_id}")
    assert page.status_code == 200
    assert "https://app.example/odd" in page.text
    assert "not-a-mapping" in page.text


# -- another project's token -------------------------------------------------------------------


def test_a_token_scoped_to_another_project_is_told_nothing(ui_server: Server) -> None:
    mine = new_project(ui_server, "mine")
    theirs = new_project(ui_server, "theirs")
    with http_client(base_url=ui_server.url, timeout=30) as sdk:
        secure_id = record(sdk, theirs, active_for(2), errors=[page_error("their secret")])
    wait_for_processing(ui_server)
    with signed_in_client(ui_server, new_token(ui_server, project=str(mine.id))) as client:
        listed = client.get("/ui/sessions")
        assert listed.status_code == 200
        assert "No sessions yet" in listed.text  # its own project has none
        assert secure_id not in listed.text
        assert "theirs" not in listed.text  # not even the project's name in the filter
        page = client.get(f"/ui/sessions/{secure_id}")
        assert page.status_code == 404
        assert "their secret" not in page.text
        assert client.get(f"/ui/sessions/{secure_id}/events").status_code == 404
        errors = client.get("/ui/errors")
        assert errors.status_code == 200
        assert "No errors recorded" in errors.text
        assert "their secret" not in errors.text
        fingerprint = db_rows(
            ui_server.data_dir,
            "SELECT fingerprint FROM errors WHERE session_secure_id = ?",
            [secure_id],
        )[0][0]
        assert client.get(f"/ui/errors/{fingerprint}").status_code == 404
        forbidden = client.get("/ui/sessions", params={"project": theirs.id})
        assert forbidden.status_code == 403


def test_the_logs_page_lists_and_filters_a_backends_lines(
    ui_server: Server, admin: httpx.Client
) -> None:
    project = new_project(ui_server, "logs page")
    with http_client(base_url=ui_server.url, timeout=30) as sdk:
        secure_id = init_session(sdk, project=str(project.id))
        now = time.time_ns()

        def line(offset: int, level: str, text: str, *session: str) -> dict[str, Any]:
            attributes = [
                {"key": "highlight.session_id", "value": {"stringValue": s}} for s in session
            ]
            return {
                "timeUnixNano": str(now + offset),
                "severityText": level,
                "body": {"stringValue": text},
                "attributes": attributes,
            }

        resource = [
            {"key": "service.name", "value": {"stringValue": "checkout-api"}},
            {"key": "highlight.project_id", "value": {"stringValue": str(project.id)}},
        ]
        records = [
            line(0, "INFO", "nightly <b>report</b> done"),
            line(1_000_000, "ERROR", "payment provider timed out"),
            line(2_000_000, "WARN", "inventory low", secure_id),
        ]
        export = {
            "resourceLogs": [
                {"resource": {"attributes": resource}, "scopeLogs": [{"logRecords": records}]}
            ]
        }
        assert sdk.post("/v1/logs", json=export).status_code == 200
    wait_for_processing(ui_server)
    page = admin.get("/ui/logs", params={"project": project.id})
    assert page.status_code == 200
    rows = re.findall(r'<td class="text">([^<]*(?:<[^/][^<]*)*)</td>', page.text)
    assert rows == [
        "inventory low",
        "payment provider timed out",
        "nightly &lt;b&gt;report&lt;/b&gt; done",
    ]
    assert "checkout-api" in page.text
    backends = re.search(r'<p class="facts" id="backends">(.*?)</p>', page.text, re.S)
    assert backends is not None
    assert "Backends reporting:" in backends.group(1)
    assert "<strong>checkout-api</strong>" in backends.group(1)
    assert f'href="/ui/sessions/{secure_id}"' in page.text
    assert page.text.count("no session") == 2
    errors_only = admin.get("/ui/logs", params={"project": project.id, "level": "error"}).text
    assert re.findall(r'<td class="text">([^<]*)</td>', errors_only) == [
        "payment provider timed out"
    ]
    # The ERROR line is an error too: on the errors page, with its service and no session.
    groups = admin.get("/ui/errors", params={"project": project.id}).text
    link = re.search(r'href="(/ui/errors/\w+\?project=\d+)"', groups)
    assert link is not None
    group = admin.get(link.group(1).replace("&amp;", "&")).text
    occurrence = group[group.index('id="occurrences"') :]
    assert "checkout-api" in occurrence
    assert "backend, no session" in occurrence
