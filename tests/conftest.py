"""Fixtures every suite shares: the store backends the server tests run on, one shared server
per backend with a client of it, and the event loop of async tests.

Servers are real `footlight serve` processes on real stores (tests/helpers/servers.py).
Fixtures that start servers are parametrised by `backend`, so the protocol, processing and
read-API suites run on SQLite and on PostgreSQL; `FOOTLIGHT_TEST_BACKENDS=sqlite` (or
`postgresql`) narrows that for a quick local run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers.recording import drop_recordings, start_run
from tests.helpers.servers import Server, client_of, running
from tests.helpers.store import BACKENDS, drop_fresh_databases


def pytest_configure(config: pytest.Config) -> None:
    if "PYTEST_XDIST_WORKER" not in os.environ:  # the controlling process, or the only one
        start_run()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if "PYTEST_XDIST_WORKER" not in os.environ:  # every worker is done
        drop_recordings()


@pytest.fixture(scope="session", autouse=True)
def _drop_test_databases() -> Iterator[None]:
    """Set up before every other fixture, so torn down after them: after the last server."""
    yield
    drop_fresh_databases()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The store behind the servers of a test: "sqlite" or "postgresql"."""
    return str(request.param)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[Server]:
    """One server per backend shared by the protocol tests; each test uses its own sessions."""
    with running(tmp_path_factory, "shared", backend) as shared:
        yield shared


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with client_of(server) as c:
        yield c


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (`@pytest.mark.anyio`) run on asyncio, the loop footlight runs on."""
    return "asyncio"
