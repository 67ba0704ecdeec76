"""The real backend SDKs, each in a process of its own, report to a real footlight: what
they report inside a browser session reaches that session, and what they report outside any
reaches the project's errors and logs, through the read API.

* Python: `highlight-io` 0.10.2 (pinned by tests/backend_sdks/python/requirements.txt, in
  the virtualenv `.venv-python-sdk` that scripts/test builds) over OTLP/gRPC, gzip;
* Node: `@highlight-run/node` 3.12.22 (pinned by tests/backend_sdks/node/package-lock.json,
  installed there by scripts/test) over OTLP/HTTP JSON;
* LaunchDarkly's Node plugin, `@launchdarkly/observability-node` 1.3.0 on
  `@launchdarkly/node-server-sdk` (offline), over OTLP/HTTP JSON, naming its project by an
  SDK key that the project lists (`footlight project create --key`).

Each reporter (`python/report.py`, `node/report.cjs`, `node/report-launchdarkly.cjs`) does
the same: inside a session, a warning log line and an error; outside any session, an error
and an error-level log line.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.graphql import init_session
from tests.helpers.paths import ROOT
from tests.helpers.servers import Server, http_client, start_server
from tests.helpers.store import with_store
from tests.helpers.waiting import read_rows_until

HERE = Path(__file__).resolve().parent
PYTHON = ROOT / ".venv-python-sdk" / "bin" / "python"
NODE_MODULES = HERE / "node" / "node_modules"


@dataclass(frozen=True)
class Sdk:
    name: str
    installed: Path
    """What must exist for the SDK to run (scripts/test installs it)."""
    command: Callable[[Server], list[str]]
    """The reporter's command up to its last three arguments (project, session, marker)."""
    session_error: str
    """The type of the error raised inside the session."""
    outside_errors: list[str]
    """The types of the error outside any session and of the error-level log line."""
    innermost_frame: tuple[str, str]
    """(file, function) of the session error's innermost frame."""
    sdk_key: str | None = None
    """The key the SDK names its project by, added to a project of its own; None: the
    project's verbose id (1jdkoe52, project 1)."""


SDKS = {
    "python": Sdk(
        "highlight-io",
        PYTHON,
        lambda server: [str(PYTHON), str(HERE / "python" / "report.py"),
                        f"http://{server.grpc_target}"],
        "ValueError",
        ["KeyError", "nightly"],  # logging.error: typed by its logger
        (str(HERE / "python" / "report.py"), "<module>"),
    ),
    "node": Sdk(
        "@highlight-run/node",
        NODE_MODULES / "@highlight-run" / "node",
        lambda server: ["node", str(HERE / "node" / "report.cjs"), server.url],
        "Error",
        ["TypeError", "log"],  # H.log(..., 'error'): no logger to type it
        (str(HERE / "node" / "report.cjs"), "Object.<anonymous>"),
    ),
    "launchdarkly-node": Sdk(
        "@launchdarkly/observability-node",
        NODE_MODULES / "@launchdarkly" / "observability-node",
        lambda server: ["node", str(HERE / "node" / "report-launchdarkly.cjs"), server.url],
        "Error",
        ["TypeError", "log"],
        (str(HERE / "node" / "report-launchdarkly.cjs"), "report"),
        sdk_key="sdk-0c5f2a1e-footlight-test",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Reported:
    sdk: Sdk
    server: Server
    project: int
    secure_id: str
    marker: str


@pytest.fixture(scope="module", params=list(SDKS))
def reported(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str
) -> Iterator[Reported]:
    sdk = SDKS[request.param]
    assert sdk.installed.exists(), f"{sdk.installed} is missing: scripts/test installs {sdk.name}"
    server = start_server(
        tmp_path_factory.mktemp(f"{request.param}-sdk-{backend}") / "data",
        env={"FOOTLIGHT_SESSION_INACTIVITY_SECONDS": "1"},
        backend=backend,
        client_limits=True,
    )
    try:
        project, key = 1, "1jdkoe52"
        if sdk.sdk_key is not None:
            key = sdk.sdk_key
            project = with_store(
                server.data_dir, lambda store: store.create_project("LaunchDarkly", (key,))
            ).id
        with http_client(base_url=server.url, timeout=30) as client:
            secure_id = init_session(client, project=key)
        marker = uuid.uuid4().hex[:12]
        run = subprocess.run(
            [*sdk.command(server), key, secure_id, marker],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        assert "flushed" in run.stdout
        # The SDKs log every failed export; a refused one would show here.
        assert "Failed to export" not in run.stderr, run.stderr[-3000:]
        yield Reported(sdk, server, project, secure_id, marker)
    finally:
        server.stop()


def _read(
    server: Server, path: str, wanted: Callable[[dict[str, Any]], bool] = lambda _: True
) -> list[dict[str, Any]]:
    """The rows of a read-API list once one of them is `wanted` (processing runs a moment
    after the exports arrive)."""
    return read_rows_until(server, path, lambda rows: any(wanted(row) for row in rows))


def test_an_error_reported_in_a_session_is_on_that_session(reported: Reported) -> None:
    errors = _read(reported.server, f"/api/v1/sessions/{reported.secure_id}/errors")
    assert [(e["type"], e["message"]) for e in errors] == [
        (reported.sdk.session_error, f"card declined for {reported.marker}")
    ]
    # The SDK's stack trace (Python's traceback, V8's stack), innermost frame first.
    frames = errors[0]["frames"]
    assert (frames[0]["file_name"], frames[0]["function_name"]) == reported.sdk.innermost_frame


def test_a_warning_logged_in_a_session_is_in_its_console_and_logs(reported: Reported) -> None:
    server, secure_id, marker = reported.server, reported.secure_id, reported.marker
    console = _read(server, f"/api/v1/sessions/{secure_id}/console")
    assert [(m["level"], m["message"], m["source"]) for m in console if marker in m["message"]] == [
        ("warn", f"inventory low for {marker}", "backend")
    ]
    logs = _read(server, f"/api/v1/logs?session={secure_id}")
    assert [(g["message"], g["service_name"]) for g in logs] == [
        (f"inventory low for {marker}", "checkout-api")
    ]


def test_errors_reported_outside_any_session_are_kept_for_the_project(
    reported: Reported,
) -> None:
    marker = reported.marker
    errors = _read(reported.server, "/api/v1/errors?limit=200", lambda e: "nightly" in e["message"])
    outside = [e for e in errors if marker in e["message"] and "nightly" in e["message"]]
    assert sorted((e["type"], e["session_secure_id"], e["project_id"]) for e in outside) == [
        (kind, None, reported.project) for kind in sorted(reported.sdk.outside_errors)
    ]
    # The service that reported them, as the SDK was told; the project lists it.
    assert {(e["service_name"], e["service_version"], e["environment"]) for e in outside} == {
        ("checkout-api", "1.2.3", "test")
    }
    projects = _read(reported.server, "/api/v1/projects")
    (project,) = [p for p in projects if p["id"] == reported.project]
    assert [b["name"] for b in project["backend_services"]] == ["checkout-api"]


def test_a_line_logged_outside_any_session_is_in_the_projects_logs(reported: Reported) -> None:
    marker = reported.marker
    logs = _read(
        reported.server,
        f"/api/v1/logs?project={reported.project}&level=error",
        lambda g: marker in g["message"],
    )
    assert [(g["message"], g["session_secure_id"]) for g in logs if marker in g["message"]] == [
        (f"nightly report failed for {marker}", None)
    ]
