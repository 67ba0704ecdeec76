"""The real Python backend SDK (`highlight-io` 0.10.2 from PyPI, pinned by
tests/backend_sdks/python/requirements.txt, in its own virtualenv `.venv-python-sdk` that
scripts/test builds) exports over OTLP/gRPC to a real footlight: what it reports inside a
browser session reaches that session, through the read API."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, Server, create_token, init_session, start_server

SDK_PYTHON = ROOT / ".venv-python-sdk" / "bin" / "python"
REPORT = Path(__file__).resolve().parent / "python" / "report.py"


@pytest.fixture(scope="module")
def reported(
    tmp_path_factory: pytest.TempPathFactory, backend: str
) -> Iterator[tuple[Server, str, str]]:
    assert SDK_PYTHON.is_file(), (
        f"{SDK_PYTHON} is missing: scripts/test builds it (python3 -m venv .venv-python-sdk"
        " && .venv-python-sdk/bin/pip install -r tests/backend_sdks/python/requirements.txt)"
    )
    server = start_server(
        tmp_path_factory.mktemp(f"python-sdk-{backend}") / "data",
        env={"FOOTLIGHT_SESSION_INACTIVITY_SECONDS": "1"},
        backend=backend,
        client_limits=True,
    )
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            secure_id = init_session(client)
        marker = uuid.uuid4().hex[:12]
        run = subprocess.run(
            [
                str(SDK_PYTHON),
                str(REPORT),
                f"http://{server.grpc_target}",
                "1jdkoe52",
                secure_id,
                marker,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        assert "flushed" in run.stdout
        # The SDK logs every failed export; a refused one would show here.
        assert "Failed to export" not in run.stderr, run.stderr[-3000:]
        yield server, secure_id, marker
    finally:
        server.stop()


def _read(
    server: Server, path: str, wanted: Callable[[dict[str, Any]], bool] = lambda _: True
) -> list[dict[str, Any]]:
    """The rows of a read-API list, once one of them is `wanted` (processing runs a moment
    after the exports arrive), or as they are after 30 s."""
    token = create_token(server)
    deadline = time.monotonic() + 30
    with httpx.Client(
        base_url=server.url, timeout=30, headers={"authorization": f"Bearer {token}"}
    ) as api:
        while True:
            response = api.get(path)
            assert response.status_code == 200, response.text
            body = response.json()
            rows: list[dict[str, Any]] = next(v for v in body.values() if isinstance(v, list))
            if any(wanted(row) for row in rows) or time.monotonic() > deadline:
                return rows
            time.sleep(0.2)


def test_an_error_reported_in_a_session_is_on_that_session(
    reported: tuple[Server, str, str],
) -> None:
    server, secure_id, marker = reported
    errors = _read(server, f"/api/v1/sessions/{secure_id}/errors")
    assert [(e["type"], e["message"]) for e in errors] == [
        ("ValueError", f"card declined for {marker}")
    ]
    # The SDK's Python traceback, innermost frame first.
    frames = errors[0]["frames"]
    assert (frames[0]["file_name"], frames[0]["function_name"]) == (str(REPORT), "<module>")


def test_a_warning_logged_in_a_session_is_in_its_console(
    reported: tuple[Server, str, str],
) -> None:
    server, secure_id, marker = reported
    console = _read(server, f"/api/v1/sessions/{secure_id}/console")
    assert [(m["level"], m["message"], m["source"]) for m in console if marker in m["message"]] == [
        ("warn", f"inventory low for {marker}", "backend")
    ]
    logs = _read(server, f"/api/v1/logs?session={secure_id}")
    assert [(g["message"], g["service_name"]) for g in logs] == [
        (f"inventory low for {marker}", "checkout-api")
    ]


def test_an_error_reported_outside_any_session_is_kept_for_its_project(
    reported: tuple[Server, str, str],
) -> None:
    server, _, marker = reported
    errors = _read(server, "/api/v1/errors?limit=200", lambda e: "nightly" in e["message"])
    outside = [e for e in errors if marker in e["message"] and "nightly" in e["message"]]
    assert sorted((e["type"], e["session_secure_id"], e["project_id"]) for e in outside) == [
        ("KeyError", None, 1),
        # logging.error outside a session: a log line, and an error of its logger.
        ("nightly", None, 1),
    ]
    # The service that reported them, as H(...) named it.
    assert {(e["service_name"], e["service_version"], e["environment"]) for e in outside} == {
        ("checkout-api", "1.2.3", "test")
    }


def test_a_line_logged_outside_any_session_is_in_the_projects_logs(
    reported: tuple[Server, str, str],
) -> None:
    server, _, marker = reported
    logs = _read(server, "/api/v1/logs?project=1&level=error", lambda g: marker in g["message"])
    assert [(g["message"], g["session_secure_id"]) for g in logs if marker in g["message"]] == [
        (f"nightly report failed for {marker}", None)
    ]
