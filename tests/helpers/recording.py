"""One session the real highlight.run SDK recorded in Chromium, made once per backend and
test run, for the SDK tests (tests/e2e/test_highlight_sdk.py) and the UI tests
(tests/e2e/test_ui.py) alike: a recording takes ~15 s of browser time, and both suites
only read it.

The recording is kept as a stopped server's store (SQLite files, or a PostgreSQL database)
and what the browser saw of its calls. Each test module reads it through a server of its
own on a copy of that store (`replica`), so what one module does (tokens, projects,
sign-ins) is never seen by another.

pytest-xdist runs test files on several processes: the first that needs a backend's
recording makes it under a file lock in the directory all workers share, and the others
wait for it and then copy it. The recordings' PostgreSQL databases are dropped when the
whole run ends (`drop_recordings`, from the controlling process).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
from playwright.sync_api import Browser

from tests.helpers.browser import serving_app, with_own_chromium
from tests.helpers.paths import ROOT
from tests.helpers.sdk import BackendTraffic, Call, drive
from tests.helpers.servers import Server, start_server
from tests.helpers.store import (
    BACKENDS,
    POSTGRES,
    database_name,
    database_url,
    drop_databases,
    fresh_database,
)
from tests.helpers.waiting import read_api_until, wait_for_processing

NODE_SERVER = ROOT / "tests" / "backend_sdks" / "node" / "server.cjs"
PROJECT = "1jdkoe52"
_RUN = "FOOTLIGHT_TEST_RUN"
_DATABASE_PREFIX = "footlight_recording_"


@dataclass(frozen=True)
class Recording:
    """A finished recording: its store (stopped) and what the browser saw."""

    data_dir: Path
    """The recording server's data directory: its SQLite store, when `store_url` is None."""
    store_url: str | None
    traffic: BackendTraffic


def start_run() -> None:
    """Name this test run (in the controlling process, before pytest-xdist starts workers,
    which inherit it): the run's recording databases carry the name."""
    os.environ[_RUN] = uuid.uuid4().hex[:12]


def drop_recordings() -> None:
    """Drop the PostgreSQL databases of this run's recordings (every worker is done)."""
    run = os.environ.get(_RUN)
    if run is None or "postgresql" not in BACKENDS:
        return
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        names = [
            str(row[0])
            for row in admin.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s",
                (f"{_DATABASE_PREFIX}{run}_%",),
            )
        ]
    drop_databases(names)


def shared_recording(shared_dir: Path, backend: str) -> Recording:
    """The run's recording on `backend`: made now, in `shared_dir`, if no process made it yet."""
    directory = shared_dir / f"sdk-recording-{backend}"
    directory.mkdir(parents=True, exist_ok=True)
    saved = directory / "traffic.json"
    with _locked(directory / "lock"):
        if not saved.exists():
            with serving_app() as app_origin:
                recording = _record(directory / "data", backend, app_origin)
            saved.write_text(json.dumps(_traffic_as_json(recording.traffic)))
            (directory / "store_url").write_text(recording.store_url or "")
        store_url = (directory / "store_url").read_text() or None
        return Recording(
            directory / "data", store_url, _traffic_from_json(json.loads(saved.read_text()))
        )


def replica(recording: Recording, data_dir: Path, env: Mapping[str, str] | None = None) -> Server:
    """A server of its own on a copy of the recording's store."""
    if recording.store_url is None:
        shutil.copytree(recording.data_dir, data_dir)
        return start_server(data_dir, env=env)
    # Copies are made one at a time: PostgreSQL copies a template nobody else is connected to.
    with _locked(recording.data_dir.parent / "lock"):
        copy = fresh_database(template=recording.store_url)
    return start_server(data_dir, env=env, store_url=copy)


def secure_id_of(traffic: BackendTraffic) -> str:
    """The recorded session: both page loads continue one."""
    inits = traffic.graphql("initializeSession")
    ids = {str(call.variables()["session_secure_id"]) for call in inits}
    assert len(ids) == 1, f"both pages continue one session, got {ids}"
    return ids.pop()


@dataclass
class AppBackend:
    """The app's own backend (tests/backend_sdks/node/server.cjs), reporting to footlight
    with the real `@highlight-run/node` SDK."""

    process: subprocess.Popen[str]
    url: str
    marker: str

    def stop(self) -> None:
        self.process.terminate()
        self.process.communicate(timeout=10)  # waits, and closes its output pipe


def start_app_backend(server: Server) -> AppBackend:
    assert NODE_SERVER.with_name("node_modules").is_dir(), (
        "tests/backend_sdks/node has no node_modules: scripts/test installs @highlight-run/node"
    )
    marker = uuid.uuid4().hex[:12]
    process = subprocess.Popen(
        ["node", str(NODE_SERVER), server.url, PROJECT, marker],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("listening "), f"the app backend did not start: {line!r}"
    # localhost, not 127.0.0.1: the SDK's `tracingOrigins: true` traces localhost URLs.
    return AppBackend(process, f"http://localhost:{line.split()[1]}", marker)


def _record(data_dir: Path, backend: str, app_origin: str) -> Recording:
    """Drive the e2e app (and through it the app's backend) against a new server, wait until
    everything they sent is stored and processed, and stop the server."""
    store_url = None
    if backend == "postgresql":
        store_url = database_url(f"{_DATABASE_PREFIX}{os.environ.get(_RUN, 'alone')}_{backend}")
        name = database_name(store_url)
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            # Left by a worker whose recording failed half-way; this one starts afresh.
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
    # Processed a second after the last input, as the UI tests need it.
    server = start_server(
        data_dir, env={"FOOTLIGHT_SESSION_INACTIVITY_SECONDS": "1"}, store_url=store_url
    )
    try:
        traffic = BackendTraffic(server.url)
        app_backend = start_app_backend(server)
        try:
            url = f"{app_origin}/index.html?project={PROJECT}&backend={server.url}"

            def record(browser: Browser) -> None:
                context = browser.new_context()
                traffic.watch(context)
                page = context.new_page()
                page.on(
                    "console",
                    lambda m: traffic.console_errors.append(m.text) if m.type == "error" else None,
                )
                drive(page, traffic, f"{url}&api={app_backend.url}")
                context.close()

            with_own_chromium(record)
            _wait_for_the_app_backends_error(server, traffic)
        finally:
            app_backend.stop()
        wait_for_processing(server)
    finally:
        server.stop()
    return Recording(data_dir, store_url, traffic)


def _wait_for_the_app_backends_error(server: Server, traffic: BackendTraffic) -> None:
    """The Node SDK exports the checkout's error a moment after the page saw the 500: wait
    for it (30 s at most) before the recording is kept. What never came, the SDK tests
    report; this only waits."""
    if traffic.traceparent is None:
        return
    trace_id = traffic.traceparent.split("-")[1]
    with suppress(AssertionError):
        read_api_until(server, f"/api/v1/traces/{trace_id}", lambda trace: bool(trace["errors"]))


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock across processes (pytest-xdist workers), held for the block."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _traffic_as_json(traffic: BackendTraffic) -> dict[str, Any]:
    assert not traffic.in_flight, "the recording ended with calls in flight"
    return {
        "backend": traffic.backend,
        "calls": [
            {**asdict(call), "response_body": base64.b64encode(call.response_body).decode()}
            for call in traffic.calls
        ],
        "failures": traffic.failures,
        "console_errors": traffic.console_errors,
        "final_state": traffic.final_state,
        "traceparent": traffic.traceparent,
    }


def _traffic_from_json(saved: dict[str, Any]) -> BackendTraffic:
    calls = [
        Call(**{**call, "response_body": base64.b64decode(call["response_body"])})
        for call in saved["calls"]
    ]
    return BackendTraffic(
        saved["backend"],
        calls=calls,
        failures=saved["failures"],
        console_errors=saved["console_errors"],
        final_state=saved["final_state"],
        traceparent=saved["traceparent"],
    )
