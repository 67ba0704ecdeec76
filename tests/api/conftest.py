"""Fixtures for the read API tests: one real `footlight serve` that processes a session 0.2 s
after its last input, and clients of it (the SDK's, without a token, and one holding a
token of every project).

Tests share the server but not data: each one records its sessions in projects of its own
and reads them back with `?project=`, so what other tests store never changes its answers.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.helpers.cli import create_token
from tests.helpers.servers import QUICK_PROCESSING, Server, bearer_client, client_of, running


@pytest.fixture(scope="session")
def api_server(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[Server]:
    """The server every read-API test talks to."""
    with running(tmp_path_factory, "api", backend, QUICK_PROCESSING) as server:
        yield server


@pytest.fixture(scope="session")
def admin_token(api_server: Server) -> str:
    """A token of every project (`footlight token create` without --project) that may also
    delete (`--scope admin`)."""
    return create_token(api_server, name="admin", scope="admin")


@pytest.fixture
def ingest(api_server: Server) -> Iterator[httpx.Client]:
    """A client of the public graph, as the SDK is: no token."""
    with client_of(api_server) as client:
        yield client


@pytest.fixture
def api(api_server: Server, admin_token: str) -> Iterator[httpx.Client]:
    """A read-API client holding the all-projects token."""
    with bearer_client(api_server, admin_token) as client:
        yield client
