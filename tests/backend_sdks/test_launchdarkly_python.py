"""LaunchDarkly's real Python observability plugin (`launchdarkly-observability` 1.3.4, pinned
by tests/backend_sdks/launchdarkly_python/requirements.txt, in the virtualenv
`.venv-launchdarkly-sdk` that scripts/test builds) exports over OTLP/gRPC, naming its project
by an SDK key that the project lists. It never reads the browser's X-Highlight-Request
header: its error inside a browser request reaches the session only because it continues
the trace of the browser's fetch span (exported first here, as the browser SDK does)."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.graphql import init_session
from tests.helpers.paths import ROOT
from tests.helpers.servers import Server, http_client, start_server
from tests.helpers.store import with_store
from tests.helpers.waiting import read_rows_until

PYTHON = ROOT / ".venv-launchdarkly-sdk" / "bin" / "python"
REPORT = Path(__file__).resolve().parent / "launchdarkly_python" / "report.py"
SDK_KEY = "sdk-7d3e9b10-footlight-python"


@dataclass(frozen=True)
class Reported:
    server: Server
    project: int
    secure_id: str
    marker: str


def _browser_fetch(trace_id: str, secure_id: str) -> dict[str, Any]:
    """The browser SDK's span of its request to the backend: it names the session."""
    now = time.time_ns()
    attributes = [
        {"key": "highlight.session_id", "value": {"stringValue": secure_id}},
        {"key": "http.method", "value": {"stringValue": "POST"}},
        {"key": "http.url", "value": {"stringValue": "http://localhost:3000/api/checkout"}},
    ]
    span = {
        "traceId": trace_id,
        "spanId": os.urandom(8).hex(),
        "name": "HTTP POST",
        "kind": 3,
        "startTimeUnixNano": str(now),
        "endTimeUnixNano": str(now + 80_000_000),
        "attributes": attributes,
    }
    resource = [{"key": "telemetry.sdk.language", "value": {"stringValue": "webjs"}}]
    return {
        "resourceSpans": [{"resource": {"attributes": resource}, "scopeSpans": [{"spans": [span]}]}]
    }


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[Reported]:
    assert PYTHON.is_file(), (
        f"{PYTHON} is missing: scripts/test builds it (python3 -m venv .venv-launchdarkly-sdk &&"
        " .venv-launchdarkly-sdk/bin/pip install"
        " -r tests/backend_sdks/launchdarkly_python/requirements.txt)"
    )
    server = start_server(
        tmp_path_factory.mktemp(f"launchdarkly-python-{backend}") / "data",
        env={"FOOTLIGHT_SESSION_INACTIVITY_SECONDS": "1"},
        backend=backend,
    )
    try:
        project = with_store(
            server.data_dir, lambda store: store.create_project("LaunchDarkly", (SDK_KEY,))
        ).id
        trace_id = os.urandom(16).hex()
        with http_client(base_url=server.url, timeout=30) as client:
            secure_id = init_session(client, project=SDK_KEY)
            fetch = client.post("/v1/traces", json=_browser_fetch(trace_id, secure_id))
            assert fetch.status_code == 200, fetch.text
        marker = uuid.uuid4().hex[:12]
        run = subprocess.run(
            [
                str(PYTHON),
                str(REPORT),
                f"http://{server.grpc_target}",
                server.url,
                SDK_KEY,
                f"00-{trace_id}-{os.urandom(8).hex()}-01",
                marker,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        assert "flushed" in run.stdout
        for failure in ("Failed to export", "Error getting sampling config"):
            assert failure not in run.stderr, run.stderr[-3000:]
        yield Reported(server, project, secure_id, marker)
    finally:
        server.stop()


def test_an_error_in_the_browsers_trace_is_on_its_session(reported: Reported) -> None:
    errors = read_rows_until(reported.server, f"/api/v1/sessions/{reported.secure_id}/errors", bool)
    assert [(e["type"], e["message"], e["service_name"]) for e in errors] == [
        ("ValueError", f"card declined for {reported.marker}", "checkout-api")
    ]
    frames = errors[0]["frames"]
    assert (frames[0]["file_name"], frames[0]["function_name"]) == (str(REPORT), "<module>")


def test_what_is_reported_outside_a_request_is_kept_for_the_sdk_keys_project(
    reported: Reported,
) -> None:
    errors = read_rows_until(
        reported.server,
        f"/api/v1/errors?project={reported.project}",
        lambda rows: len(rows) >= 3,
    )
    outside = sorted(
        (e["type"], e["session_secure_id"]) for e in errors if "nightly" in e["message"]
    )
    assert outside == [("KeyError", None), ("log", None)]
    # (The plugin also sends what the process logs, its HTTP client's lines among them.)
    logs = read_rows_until(
        reported.server,
        f"/api/v1/logs?project={reported.project}&level=error",
        lambda rows: any(reported.marker in g["message"] for g in rows),
    )
    assert [(g["message"], g["session_secure_id"]) for g in logs if "nightly" in g["message"]] == [
        (f"nightly report failed for {reported.marker}", None)
    ]
    projects = read_rows_until(reported.server, "/api/v1/projects", bool)
    (project,) = [p for p in projects if p["id"] == reported.project]
    assert [b["name"] for b in project["backend_services"]] == ["checkout-api"]
