"""Real footlight servers in subprocesses, started the way a user starts one
(`python -m footlight serve`), each on a free port of its own and a store of its own, and
waited for through `/healthz`; and HTTP clients of them."""

from __future__ import annotations

import os
import re
import resource
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.store import fresh_database, keep_postgres_of, postgres_of

QUICK_PROCESSING = {
    "FOOTLIGHT_SESSION_INACTIVITY_SECONDS": "0.2",
    "FOOTLIGHT_LIVE_DELAY_SECONDS": "0.1",
}
"""A session is processed 0.2 s after its last input (60 s by default), after its live run
(0.1 s: so that the finished session's rows replace the live ones in every test that
processes sessions, as they do when a real session ends)."""

ONE_CLIENT_FOR_MANY_BROWSERS = {
    "FOOTLIGHT_CLIENT_REQUESTS_PER_SECOND": "0",
    "FOOTLIGHT_CLIENT_BYTES_PER_SECOND": "0",
    "FOOTLIGHT_CLIENT_NEW_SESSIONS_PER_SECOND": "0",
}
"""The test process is one client address that does what thousands of browsers would: the
per-client limits are off for test servers unless a test asks for them (`client_limits`);
tests/ingest/test_quotas.py tests them, and the real SDK's traffic with the defaults."""


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
        store_url = store_url or postgres_of(data_dir) or fresh_database()
        keep_postgres_of(data_dir, store_url)
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
                if http_get(f"{url}/healthz", timeout=1).status_code == 200:
                    return Server(data_dir, process, url, log_path, dict(env or {}), store_url)
            except httpx.TransportError:
                pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"footlight did not become healthy (url={url}):\n{log_path.read_text()}")


@contextmanager
def running(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    backend: str,
    env: Mapping[str, str] | None = None,
    *,
    client_limits: bool = False,
) -> Iterator[Server]:
    """A server of `backend` on a fresh store in a new directory named after `name`, for the
    block (a module's or the session's server fixture); stopped after it. `env` and
    `client_limits` are `start_server`'s."""
    server = start_server(
        tmp_path_factory.mktemp(f"{name}-{backend}") / "data",
        env=env,
        backend=backend,
        client_limits=client_limits,
    )
    try:
        yield server
    finally:
        server.stop()


_TLS = ssl.create_default_context()


def http_client(**options: Any) -> httpx.Client:
    """An httpx client (`options` are httpx.Client's), with the one TLS context every test
    client shares: httpx otherwise builds one for each client, loading the CA bundle (~40 ms
    of CPU), and the suite makes many clients, all of plain-HTTP servers (one forwarding test
    alone makes 330 a store)."""
    return httpx.Client(verify=_TLS, **options)


def http_get(url: str, **options: Any) -> httpx.Response:
    """httpx.get, with the shared TLS context (see `http_client`)."""
    return httpx.get(url, verify=_TLS, **options)


def http_post(url: str, **options: Any) -> httpx.Response:
    """httpx.post, with the shared TLS context (see `http_client`)."""
    return httpx.post(url, verify=_TLS, **options)


def client_of(server: Server, timeout: float = 30) -> httpx.Client:
    """A plain HTTP client of the server (what an SDK is: no token)."""
    return http_client(base_url=server.url, timeout=timeout)


def bearer_client(server: Server, token: str) -> httpx.Client:
    """A read-API client holding `token`."""
    return http_client(
        base_url=server.url, timeout=30, headers={"authorization": f"Bearer {token}"}
    )
