"""Fixtures for the UI's HTTP-level tests: one real `footlight serve` per backend, tokens made
with the real CLI, and a signed-in client (the cookie the login form sets). The browser tests
of the UI are in tests/e2e/test_ui.py."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import QUICK_PROCESSING, footlight_ok
from tests.conftest import Server, start_server


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[Server]:
    server = start_server(
        tmp_path_factory.mktemp(f"ui-http-{backend}") / "data",
        env=QUICK_PROCESSING,
        backend=backend,
    )
    yield server
    server.stop()


def new_token(server: Server, *args: str) -> str:
    return footlight_ok(server, "token", "create", "--name", "ui-test", *args).stdout.strip()


def sign_in(server: Server, token: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST the login form; the response (a 303 with the cookie, or the form again)."""
    return httpx.post(
        f"{server.url}/ui/login",
        data={"token": token, "next": "/ui/sessions"},
        headers=headers,
        follow_redirects=False,
    )


def signed_in_client(server: Server, token: str) -> httpx.Client:
    answer = sign_in(server, token)
    assert answer.status_code == 303, answer.text
    client = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)
    client.cookies.set("footlight_ui", answer.cookies["footlight_ui"])
    return client


@pytest.fixture(scope="session")
def admin_token(ui_server: Server) -> str:
    """A token that reads every project."""
    return new_token(ui_server)


@pytest.fixture
def admin(ui_server: Server, admin_token: str) -> Iterator[httpx.Client]:
    """A client signed in with `admin_token`."""
    with signed_in_client(ui_server, admin_token) as client:
        yield client
