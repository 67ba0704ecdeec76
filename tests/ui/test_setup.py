"""The setup page (/ui/setup): for each project, whether the browser SDK records, whether a
backend reports, what was refused and the snippet to paste; and the project ids pages sent
that name no project here."""

from __future__ import annotations

import html
import re
import time

import httpx

from footlight.core.ids import encode_project
from tests.helpers.graphql import (
    INIT_DOC,
    MARK_BACKEND,
    gql,
    init_session,
    init_variables,
    make_payload,
    new_secure_id,
    push,
)
from tests.helpers.servers import Server, client_of
from tests.helpers.store import new_project
from tests.helpers.ui import new_token, signed_in_client

INIT = "initializeSession"


def section(page: str, verbose_id: str) -> str:
    """The page's section of one project, its text unescaped."""
    match = re.search(rf'<section class="setup" id="project-{verbose_id}".*?</section>', page, re.S)
    assert match, f"no section for {verbose_id}"
    return html.unescape(match.group())


def setup_page(client: httpx.Client, ready: str = "", timeout: float = 30.0) -> str:
    """The page once it shows `ready`. Refusals reach the store every 5 s, all that were
    counted since the last time at once (a project's, and those naming no project here), so
    a refusal naming no project that a test made last shows that its others are in too.
    (A run of the suite on a busy VM once read the page without a test's refusal of a
    project's. Whether the 15 s it waited then ran out, or the count was lost, it could not
    tell: the wait is longer now, and fails saying so when it runs out.)"""
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get("/ui/setup")
        assert answer.status_code == 200, answer.text
        if ready in answer.text:
            return answer.text
        if time.monotonic() > deadline:
            raise AssertionError(f"/ui/setup did not show {ready!r} within {timeout:g} s")
        time.sleep(0.25)


def test_each_project_says_which_part_is_wired(ui_server: Server, admin: httpx.Client) -> None:
    empty = new_project(ui_server, "setup-empty")
    browser = new_project(ui_server, "setup-browser")
    backend = new_project(ui_server, "setup-backend")
    wrong_id = f"wrong-{new_secure_id()[:8]}"
    with client_of(ui_server) as sdk:
        secure_id = init_session(sdk, project=str(browser.id), clientVersion="10.7.5")
        assert push(sdk, secure_id, 1, make_payload()).status_code == 200
        refused = push(sdk, secure_id, 2, "not base64 gzip")
        assert "errors" in refused.json()
        unknown = gql(sdk, INIT_DOC, init_variables(new_secure_id(), project=wrong_id), INIT)
        assert unknown.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        marked = gql(
            sdk,
            MARK_BACKEND,
            {"project_id": encode_project(backend.id), "type": "python"},
            "markBackendSetup",
        )
        assert "errors" not in marked.json(), marked.text

    page = setup_page(admin, ready=wrong_id)

    nothing = section(page, encode_project(empty.id))
    assert "No browser session yet" in nothing
    assert "No backend has reported" in nothing
    assert f"H.init('{encode_project(empty.id)}', {{ backendUrl: '{ui_server.url}'" in nothing

    recording = section(page, encode_project(browser.id))
    assert "Recording: newest session" in recording
    assert "highlight.run 10.7.5" in recording
    assert f"/ui/sessions/{secure_id}" in recording
    assert "No backend has reported" in recording
    assert re.search(r"<td>BAD_USER_INPUT</td><td>1</td>", recording), recording

    reporting = section(page, encode_project(backend.id))
    assert "No browser session yet" in reporting
    assert "No backend has reported" not in reporting
    assert "python: first" in reporting  # the service markBackendSetup named (its type)

    assert "Requests naming no project here" in page
    assert f"<code>{wrong_id}</code>" in page
    # And `footlight serve` said so when the project's first session arrived.
    assert f"first session of project {encode_project(browser.id)}" in ui_server.log()


def test_a_token_of_one_project_sees_only_that_project(
    ui_server: Server, admin: httpx.Client
) -> None:
    mine = new_project(ui_server, "setup-mine")
    other = new_project(ui_server, "setup-other")
    wrong_id = f"elsewhere-{new_secure_id()[:8]}"
    with client_of(ui_server) as sdk:
        gql(sdk, INIT_DOC, init_variables(new_secure_id(), project=wrong_id), INIT)
    assert wrong_id in setup_page(admin, ready=wrong_id)  # counted, and shown to all-project tokens
    with signed_in_client(ui_server, new_token(ui_server, project=str(mine.id))) as client:
        page = setup_page(client)
    assert f'id="project-{encode_project(mine.id)}"' in page
    assert f'id="project-{encode_project(other.id)}"' not in page
    assert wrong_id not in page
    assert "Requests naming no project here" not in page
