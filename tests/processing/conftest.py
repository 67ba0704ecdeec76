"""What the processing tests share: a server per module and store that processes a session
0.2 s after its last input."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.servers import QUICK_PROCESSING, Server, start_server


@pytest.fixture(scope="module")
def quick(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str
) -> Iterator[Server]:
    name = request.module.__name__.rsplit(".", 1)[-1]
    data_dir = tmp_path_factory.mktemp(f"{name}-{backend}") / "data"
    server = start_server(data_dir, env=QUICK_PROCESSING, backend=backend)
    yield server
    server.stop()
