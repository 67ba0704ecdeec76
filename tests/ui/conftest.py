"""Fixtures for the UI's HTTP-level tests: one real `footlight serve` per backend, a token
made with the real CLI, and a signed-in client (the cookie the login form sets). The browser
tests of the UI are in tests/e2e/test_ui.py."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.helpers.servers import QUICK_PROCESSING, Server, running
from tests.helpers.ui import new_token, signed_in_client


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[Server]:
    with running(tmp_path_factory, "ui-http", backend, QUICK_PROCESSING) as server:
        yield server


# Not the read API's `admin_token` (tests/api/conftest.py): this one is of `ui_server`, and
# reads only; the UI's tests sign in with it.
@pytest.fixture(scope="session")
def admin_token(ui_server: Server) -> str:
    """A token that reads every project."""
    return new_token(ui_server)


@pytest.fixture
def admin(ui_server: Server, admin_token: str) -> Iterator[httpx.Client]:
    """A client signed in with `admin_token`."""
    with signed_in_client(ui_server, admin_token) as client:
        yield client
