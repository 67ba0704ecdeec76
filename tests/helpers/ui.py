"""Signing in to the UI over plain HTTP, as its login form does."""

from __future__ import annotations

import httpx

from tests.helpers.cli import create_token
from tests.helpers.servers import Server, http_client, http_post


def new_token(server: Server, *, project: str | None = None, scope: str | None = None) -> str:
    """A token made for the UI tests (named so in `footlight token list`)."""
    return create_token(server, name="ui-test", project=project, scope=scope)


def sign_in(server: Server, token: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST the login form; the response (a 303 with the cookie, or the form again)."""
    return http_post(
        f"{server.url}/ui/login",
        data={"token": token, "next": "/ui/sessions"},
        headers=headers,
        follow_redirects=False,
    )


def signed_in_client(server: Server, token: str) -> httpx.Client:
    answer = sign_in(server, token)
    assert answer.status_code == 303, answer.text
    client = http_client(base_url=server.url, timeout=30, follow_redirects=False)
    client.cookies.set("footlight_ui", answer.cookies["footlight_ui"])
    return client
