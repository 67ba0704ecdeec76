"""Fixtures: real footlight servers in subprocesses, real HTTP, and direct looks at the store.

Every server is started the way a user starts one (`python -m footlight serve`), on a free
port of its own and a fresh data directory, and is waited for through `/healthz`.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec
import pytest

from footlight.store import SessionRecord, SQLiteStore

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass
class Server:
    """A running `footlight serve` process."""

    data_dir: Path
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; what a crash or power cut looks like to the process."""
        self.process.kill()
        self.process.wait()


def start_server(
    data_dir: Path, env: Mapping[str, str] | None = None, timeout: float = 20.0
) -> Server:
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}-server-{time.monotonic_ns()}.log"
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "footlight",
                "serve",
                "--port",
                "0",
                "--data-dir",
                str(data_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=data_dir.parent,
        )
    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"footlight exited with {process.returncode}:\n{log_path.read_text()}"
            )
        match = re.search(r"listening:\s+(http://\S+)", log_path.read_text(errors="replace"))
        if match:
            url = match.group(1)
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return Server(data_dir, process, url, log_path, dict(env or {}))
            except httpx.TransportError:
                pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"footlight did not become healthy (url={url}):\n{log_path.read_text()}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server shared by the protocol tests; each test uses its own session ids."""
    running = start_server(tmp_path_factory.mktemp("shared") / "data")
    yield running
    running.stop()


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


# -- talking GraphQL -------------------------------------------------------------------------

INIT_DOC = (FIXTURES / "documents" / "initializeSession.graphql").read_text()
PUSH_DOC = (FIXTURES / "documents" / "PushSessionEvents.graphql").read_text()


def gql(
    client: httpx.Client,
    query: str,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
    *,
    path: str = "/",
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    if operation_name is not None:
        body["operationName"] = operation_name
    return client.post(path, json=body, headers={"accept": "*/*", **(headers or {})})


def new_secure_id() -> str:
    return "t" + os.urandom(14).hex()[:27]


def init_variables(secure_id: str, project: str = "1jdkoe52", **overrides: Any) -> dict[str, Any]:
    variables: dict[str, Any] = {
        "session_secure_id": secure_id,
        "organization_verbose_id": project,
        "enable_strict_privacy": False,
        "privacy_setting": "none",
        "enable_recording_network_contents": True,
        "clientVersion": "10.7.5",
        "firstloadVersion": "10.7.5",
        "clientConfig": '{"environment":"test"}',
        "environment": "test",
        "id": "client-fingerprint",
        "appVersion": "1.2.3",
        "serviceName": "tests",
        "client_id": "client-" + secure_id,
        "network_recording_domains": [],
    }
    variables.update(overrides)
    return variables


def init_session(client: httpx.Client, secure_id: str | None = None, **overrides: Any) -> str:
    secure_id = secure_id or new_secure_id()
    response = gql(client, INIT_DOC, init_variables(secure_id, **overrides), "initializeSession")
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return str(body["data"]["initializeSession"]["secure_id"])


def make_payload(
    events: list[dict[str, Any]] | None = None,
    messages: list[dict[str, Any]] | None = None,
    resources: list[dict[str, Any]] | None = None,
    errors: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A payload object in the SDK's PushPayload shape."""
    payload: dict[str, Any] = {
        "events": {"events": events if events is not None else [meta_event()]},
        "messages": msgspec.json.encode({"messages": messages or []}).decode(),
        "resources": msgspec.json.encode({"resources": resources or []}).decode(),
        "web_socket_events": msgspec.json.encode({"webSocketEvents": []}).decode(),
        "errors": errors or [],
        "is_beacon": False,
        "has_session_unloaded": False,
    }
    payload.update(extra)
    return payload


def meta_event(ts: int = 1_795_664_479_000, sid: int = 1) -> dict[str, Any]:
    return {
        "type": 4,
        "data": {"href": "https://app.example/", "width": 1280, "height": 800},
        "timestamp": ts,
        "_sid": sid,
    }


def compress(obj: Any, mtime: int = 0) -> str:
    raw = obj if isinstance(obj, bytes) else msgspec.json.encode(obj)
    return base64.b64encode(gzip.compress(raw, mtime=mtime)).decode()


def push(
    client: httpx.Client,
    secure_id: str,
    payload_id: Any,
    payload: Any,
    operation: str = "PushSessionEvents",
) -> httpx.Response:
    data = payload if isinstance(payload, str) else compress(payload)
    return gql(
        client,
        PUSH_DOC,
        {"session_secure_id": secure_id, "payload_id": payload_id, "data": data},
        operation,
    )


def error_codes(response: httpx.Response) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in response.json().get("errors", [])]


# -- looking at the store ----------------------------------------------------------------------


def with_store(data_dir: Path, use: Callable[[SQLiteStore], Awaitable[T]]) -> T:
    """Open the store a server uses (beside it, as the CLI does), use it, close it."""

    async def session() -> T:
        store = SQLiteStore(data_dir)
        await store.open()
        try:
            return await use(store)
        finally:
            await store.close()

    return asyncio.run(session())


def create_token(server: Server, *, project: str | None = None) -> str:
    """A read-API token, made the way a user makes one: `footlight token create`."""
    args = ["token", "create", "--data-dir", str(server.data_dir)]
    if project is not None:
        args += ["--project", project]
    done = subprocess.run(
        [sys.executable, "-m", "footlight", *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def read_session(data_dir: Path, secure_id: str) -> SessionRecord | None:
    return with_store(data_dir, lambda store: store.session_record(secure_id))


def decoded_payloads(record: SessionRecord) -> list[dict[str, Any]]:
    return [msgspec.json.decode(gzip.decompress(p.body)) for p in record.payloads]
