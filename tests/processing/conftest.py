"""What the processing tests share: a server per module and store that processes a session
0.2 s after its last input, and waiting for processing to be done."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import Server, db_rows, start_server

QUICK = {"FOOTLIGHT_SESSION_INACTIVITY_SECONDS": "0.2"}
_QUEUED = "SELECT count(*) FROM processing_queue WHERE quarantined_at IS NULL"


@pytest.fixture(scope="module")
def quick(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str
) -> Iterator[Server]:
    name = request.module.__name__.rsplit(".", 1)[-1]
    data_dir = tmp_path_factory.mktemp(f"{name}-{backend}") / "data"
    server = start_server(data_dir, env=QUICK, backend=backend)
    yield server
    server.stop()


def wait_drained(server: Server, timeout: float = 120) -> None:
    """Return once the server's processing queue is empty (everything stored so far is
    processed, or quarantined); fail after `timeout` s with the end of its log.

    The server processes a job as soon as it is due, so this looks often: with one query on
    the server's database, not by opening a store beside it (tens of milliseconds a time)."""
    deadline = time.monotonic() + timeout
    while db_rows(server.data_dir, _QUEUED)[0][0] > 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"processing did not drain:\n{server.log()[-3000:]}")
        time.sleep(0.02)
