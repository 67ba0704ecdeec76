"""Fixtures: real footlight servers in subprocesses, real HTTP, and direct looks at the store.

Every server is started the way a user starts one (`python -m footlight serve`), on a free
port of its own and a fresh store, and is waited for through `/healthz`. The store is the
embedded SQLite one or, for the same tests, a fresh database on the local PostgreSQL
(127.0.0.1:5432, database `test` to create them from): fixtures that start servers are
parametrised by `backend`, so the protocol, processing and read-API suites run on both.
`FOOTLIGHT_TEST_BACKENDS=sqlite` (or `postgresql`) narrows that for a quick local run.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import os
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import grpc
import httpx
import msgspec
import psycopg
import pytest
from google.rpc import error_details_pb2

from footlight.edge.otlp_grpc import SERVICES
from footlight.store import SessionRecord, SQLiteStore, SQLStore
from footlight.store.postgres import PostgresStore

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
POSTGRES = os.environ.get("FOOTLIGHT_TEST_POSTGRES", "postgresql://127.0.0.1:5432/test")
BACKENDS = [
    b.strip() for b in os.environ.get("FOOTLIGHT_TEST_BACKENDS", "sqlite,postgresql").split(",")
]
# Which store each test server's data directory stands for (PostgreSQL servers have one too,
# for their log): how `with_store` and `db_rows` find a server's store.
_STORES: dict[Path, str] = {}


_DATABASES: list[str] = []


def fresh_database() -> str:
    """A new, empty PostgreSQL database; its URL. It is dropped when the test run ends."""
    name = f"footlight_test_{os.urandom(6).hex()}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    _DATABASES.append(name)
    return POSTGRES.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session", autouse=True)
def _drop_test_databases() -> Iterator[None]:
    """Set up before every other fixture, so torn down after them: after the last server."""
    yield
    if not _DATABASES:
        return
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        for name in _DATABASES:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Server:
    """A running `footlight serve` process."""

    data_dir: Path
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    store_url: str | None = None

    @property
    def backend(self) -> str:
        return "sqlite" if self.store_url is None else "postgresql"

    @property
    def store_args(self) -> list[str]:
        """The CLI arguments that name this server's store."""
        if self.store_url is None:
            return ["--data-dir", str(self.data_dir)]
        return ["--store", self.store_url]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def grpc_target(self) -> str:
        """host:port of its OTLP/gRPC receiver, as its banner says."""
        match = re.search(r"otlp grpc:\s+(\S+:\d+)", self.log())
        assert match, "the server runs no OTLP/gRPC receiver"
        return match.group(1)

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


ONE_CLIENT_FOR_MANY_BROWSERS = {
    "FOOTLIGHT_CLIENT_REQUESTS_PER_SECOND": "0",
    "FOOTLIGHT_CLIENT_BYTES_PER_SECOND": "0",
    "FOOTLIGHT_CLIENT_NEW_SESSIONS_PER_SECOND": "0",
}
"""The test process is one client address that does what thousands of browsers would: the
per-client limits are off for test servers unless a test asks for them (`client_limits`);
tests/ingest/test_quotas.py tests them, and the real SDK's traffic with the defaults."""


def start_server(
    data_dir: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 20.0,
    *,
    backend: str = "sqlite",
    store_url: str | None = None,
    args: Sequence[str] = (),
    client_limits: bool = False,
    open_files: int | tuple[int, int] | None = None,
) -> Server:
    """Start `footlight serve` on `data_dir`'s store: SQLite there, or a PostgreSQL database
    made for it (the same database again when the directory was used before: a restart).
    `store_url` puts the server on a given PostgreSQL database (several nodes on one); `args`
    are more `footlight serve` options; `client_limits` keeps the per-client limits on;
    `open_files` is the process's open-file limit (soft and hard, or both at once), as
    `ulimit -n` would set it."""
    limit = (open_files, open_files) if isinstance(open_files, int) else open_files

    def set_limits() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, limit)

    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}-server-{time.monotonic_ns()}.log"
    if store_url is not None or backend == "postgresql":
        store_url = store_url or _STORES.get(data_dir.resolve()) or fresh_database()
        _STORES[data_dir.resolve()] = store_url
    full_env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "FOOTLIGHT_STORE": store_url or "",
        # Tests run side by side: each server's gRPC receiver on a port of its own.
        "FOOTLIGHT_OTLP_GRPC_PORT": "0",
        **({} if client_limits else ONE_CLIENT_FOR_MANY_BROWSERS),
        **(env or {}),
    }
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
                *args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=data_dir.parent,
            preexec_fn=set_limits if limit is not None else None,
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
                    return Server(data_dir, process, url, log_path, dict(env or {}), store_url)
            except httpx.TransportError:
                pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"footlight did not become healthy (url={url}):\n{log_path.read_text()}")


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The store behind the servers of a test: "sqlite" or "postgresql"."""
    return str(request.param)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[Server]:
    """One server per backend shared by the protocol tests; each test uses its own sessions."""
    running = start_server(tmp_path_factory.mktemp(f"shared-{backend}") / "data", backend=backend)
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


def store_of(data_dir: Path) -> SQLStore:
    """The store a test server with this data directory uses (not opened)."""
    url = _STORES.get(data_dir.resolve())
    return SQLiteStore(data_dir) if url is None else PostgresStore(url)


def db_rows(data_dir: Path, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run SQL (with `?` placeholders) on a server's database directly, as an operator could."""
    url = _STORES.get(data_dir.resolve())
    if url is None:
        with sqlite3.connect(data_dir / "footlight.db") as db:
            return [tuple(row) for row in db.execute(sql, parameters).fetchall()]
    with psycopg.connect(url, autocommit=True) as db:
        cursor = db.execute(sql.replace("?", "%s"), parameters)
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []


def with_store(data_dir: Path, use: Callable[[SQLStore], Awaitable[T]]) -> T:
    """Open the store a server uses (beside it, as the CLI does), use it, close it."""

    async def session() -> T:
        store = store_of(data_dir)
        await store.open()
        try:
            return await use(store)
        finally:
            await store.close()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(session())
    # A loop already runs in this thread (a sync Playwright of a module whose teardown
    # pytest-xdist has not reached yet): the store gets a thread and loop of its own.
    with ThreadPoolExecutor(1, thread_name_prefix="with-store") as pool:
        return pool.submit(asyncio.run, session()).result()


def create_token(server: Server, *, project: str | None = None, scope: str | None = None) -> str:
    """A read-API token, made the way a user makes one: `footlight token create`."""
    args = ["token", "create", *server.store_args]
    if project is not None:
        args += ["--project", project]
    if scope is not None:
        args += ["--scope", scope]
    done = subprocess.run(
        [sys.executable, "-m", "footlight", *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def read_api_until(
    server: Server, path: str, ready: Callable[[Any], bool], timeout: float = 30.0
) -> Any:
    """The JSON answer of a read-API GET (with a new token) once `ready` holds for it, or
    the last one after `timeout` s: for what processing stores a moment after it arrives.
    Answers other than 200 (a 404 before the thing exists) are waited out, not returned."""
    token = create_token(server)
    deadline = time.monotonic() + timeout
    with httpx.Client(
        base_url=server.url, timeout=30, headers={"authorization": f"Bearer {token}"}
    ) as api:
        while True:
            response = api.get(path)
            done = time.monotonic() > deadline
            if response.status_code == 200 and (ready(response.json()) or done):
                return response.json()
            assert not done, f"GET {path}: {response.status_code} {response.text[:500]}"
            time.sleep(0.2)


def read_rows_until(
    server: Server, path: str, ready: Callable[[list[dict[str, Any]]], bool] = bool
) -> list[dict[str, Any]]:
    """The rows of a read-API list (its one list) once `ready` holds for them (by default:
    once there are some), or as they are after 30 s."""

    def rows(body: dict[str, Any]) -> list[dict[str, Any]]:
        return next(v for v in body.values() if isinstance(v, list))

    return rows(read_api_until(server, path, lambda body: ready(rows(body))))


def read_session(data_dir: Path, secure_id: str) -> SessionRecord | None:
    return with_store(data_dir, lambda store: store.session_record(secure_id))


def decoded_payloads(record: SessionRecord) -> list[dict[str, Any]]:
    return [msgspec.json.decode(gzip.decompress(p.body)) for p in record.payloads]


@dataclass(frozen=True)
class GrpcAnswer:
    """How an OTLP/gRPC Export call ended."""

    code: grpc.StatusCode
    details: str
    trailers: dict[str, str | bytes]
    response: bytes = b""
    """The Export*ServiceResponse: empty unless some items were rejected."""

    def retry_seconds(self) -> int | None:
        """The wait the server asked for, as the Python exporter reads it."""
        raw = self.trailers.get("google.rpc.retryinfo-bin")
        if not isinstance(raw, bytes):
            return None
        return int(error_details_pb2.RetryInfo.FromString(raw).retry_delay.seconds)


def otlp_grpc_export(
    target: str,
    signal: str,
    message: bytes,
    *,
    compression: grpc.Compression = grpc.Compression.NoCompression,
    metadata: Sequence[tuple[str, str]] = (),
) -> GrpcAnswer:
    """One OTLP/gRPC Export call with `message` as the request's bytes (whatever they are),
    on a channel (a connection) of its own."""
    with grpc.insecure_channel(target) as channel:
        export: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            f"/{SERVICES[signal]}/Export",  # type: ignore[index]
            request_serializer=None,
            response_deserializer=None,
        )
        try:
            response = export(
                message, timeout=15, compression=compression, metadata=tuple(metadata)
            )
        except grpc.RpcError as error:
            call = cast(grpc.Call, error)
            return GrpcAnswer(
                call.code(), call.details() or "", dict(call.trailing_metadata() or ())
            )
    return GrpcAnswer(grpc.StatusCode.OK, "", {}, response)
