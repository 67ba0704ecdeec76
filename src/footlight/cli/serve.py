"""`footlight serve`: prepare the store, bind, print where to point the SDK, run uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import math
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from footlight import __version__, logs, metrics
from footlight.config import Settings
from footlight.core.ids import encode_project
from footlight.edge.connections import Capacity, connection_capacity, raise_open_file_limit
from footlight.edge.http_protocol import EdgeGuard, GuardedHttpToolsProtocol
from footlight.edge.otlp_grpc import grpc_address
from footlight.errors import ConfigError
from footlight.store import Project, open_store
from footlight.ui.pages import PLAYER_BUNDLE

if TYPE_CHECKING:
    from footlight.app import FootlightApp


async def _prepare_store(settings: Settings) -> tuple[str, list[Project], Project | None]:
    """Create (or migrate) the store and project 1 before the server starts listening."""
    store = open_store(settings)
    await store.open()
    try:
        created = await store.ensure_default_project()
        return store.describe(), await store.list_projects(), created
    finally:
        await store.close()


def bind(
    host: str, port: int, defer_seconds: float, *, shared: bool = False, listen: bool = True
) -> socket.socket:
    """The listening socket. `shared`: one of several processes' sockets on one port
    (SO_REUSEPORT: the kernel spreads new connections over them evenly; `listen` False only
    holds the port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    # Inherited by accepted connections: an answer's headers and body (two writes) must not
    # wait for the client's delayed ACK of the first (Nagle), which costs up to 40 ms.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if hasattr(socket, "TCP_DEFER_ACCEPT"):  # Linux
        # The kernel hands over a new connection only once its first bytes arrive (or after
        # about this long): sockets that never send cost no descriptor meanwhile.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, math.ceil(defer_seconds))
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    if listen:
        sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _free_grpc_port(host: str, port: int) -> int:
    """The OTLP/gRPC port, checked free now (0: one picked now), so that a busy port is a
    one-line error before anything starts; grpcio binds it in each server process."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As grpcio binds (SO_REUSEADDR): connections of an earlier run in TIME_WAIT do not
        # count, a listener does, SO_REUSEPORT or not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen for OTLP/gRPC on {grpc_address(host, port)}: {exc.strerror}"
                " (choose another port with --otlp-grpc-port, or turn it off with"
                " --otlp-grpc-port off)"
            ) from None
        return int(probe.getsockname()[1])


_ALL_INTERFACES = ("0.0.0.0", "::", "")  # noqa: S104 - names, not a bind


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _store_option(settings: Settings) -> str:
    """The option that points another footlight command at this server's store."""
    if settings.store is not None:
        return "--store <this server's store URL>"  # which may hold a password
    if settings.data_dir != Settings().data_dir:
        return f"--data-dir '{settings.data_dir}'"
    return ""


def _connections_line(capacity: Capacity) -> list[str]:
    if not capacity.limited_by_open_files:
        return []
    return [
        f"  connections: at most {capacity.max_connections} per process: the open-file limit"
        f" ({capacity.open_file_limit}) is too low for",
        f"               FOOTLIGHT_MAX_CONNECTIONS={capacity.wanted}; raise it (ulimit -n,"
        " systemd LimitNOFILE=) to allow more",
    ]


def _backend_lines(settings: Settings, project: Project, http_port: int) -> list[str]:
    """How each backend SDK reports to this footlight: Python over OTLP/gRPC, the others
    over OTLP/HTTP on the main port."""
    host = settings.host
    if host in _ALL_INTERFACES:
        host = "<address your servers reach>"
    http = _url(host, http_port)
    verbose = encode_project(project.id)
    python = (
        [f"  Python        H('{verbose}', otlp_endpoint='{_url(host, settings.otlp_grpc_port)}')"]
        if settings.otlp_grpc_port is not None
        else ["  Python        needs the OTLP/gRPC receiver, which is off"]
    )
    return [
        "Report its backend's errors, logs and traces with:",
        *python,
        f"  Node          H.init({{ projectID: '{verbose}', otlpEndpoint: '{http}' }})",
        f'  Go            highlight.SetProjectID("{verbose}"); highlight.SetOTLPEndpoint("{http}")',
        f"  LaunchDarkly  new Observability({{ otlpEndpoint: '{http}', backendUrl: '{http}' }}),",
        "                for a project that lists its SDK key: footlight project create <name>"
        " --key <SDK key>",
        "",
    ]


def _banner(
    settings: Settings,
    where: str,
    port: int,
    projects: list[Project],
    created: Project | None,
    capacity: Capacity,
) -> str:
    listening = _url(settings.host, port)
    browser_url = listening
    if settings.host in _ALL_INTERFACES:
        browser_url = _url("<address browsers reach>", port)
    project = projects[0]
    snippet = f"{{ backendUrl: '{browser_url}', otlpEndpoint: '{browser_url}' }}"
    data = (
        f"  data:       {settings.data_dir.resolve()} ({where})"
        if settings.store is None
        else f"  store:      {where}"
    )
    grpc_port = settings.otlp_grpc_port
    grpc_line = (
        "  otlp grpc:  off"
        if grpc_port is None
        else f"  otlp grpc:  {grpc_address(settings.host, grpc_port)}  (OTLP/gRPC, backend SDKs)"
    )
    lines = [
        f"footlight {__version__}",
        data,
        f"  listening:  {listening}  (GraphQL at / and /public, OTLP at /v1/*)",
        grpc_line,
        f"  projects:   {len(projects)}" + (" (created project 1)" if created else ""),
        *_connections_line(capacity),
        "",
        f"Record sessions of project {project.id} ({project.name!r}) with:",
        f"  H.init('{encode_project(project.id)}', {snippet})",
        "",
        *_backend_lines(settings, project, port),
        f"Watch them at {browser_url}/ui, signed in with a token from:",
        f"  footlight token create --name me {_store_option(settings)}".rstrip(),
        "",
    ]
    if not PLAYER_BUNDLE.is_file():
        lines += [
            "The UI's replay player is not installed here: run scripts/build-ui (scripts/serve",
            "does it), or the session pages cannot play recordings.",
            "",
        ]
    return "\n".join(lines)


def run_server(
    app: FootlightApp, settings: Settings, capacity: Capacity, sock: socket.socket
) -> int:
    """Serve `app` on `sock` with uvicorn until told to stop (every server process does);
    the exit status: 1 if it never started."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, **_uvicorn_options(settings, capacity)))
    server.run(sockets=[sock])
    return 0 if server.started else 1


def _uvicorn_options(settings: Settings, capacity: Capacity) -> dict[str, Any]:
    guard = EdgeGuard(settings.limits, settings.trusted_proxies, capacity)
    return {
        "loop": "uvloop",
        # uvicorn's httptools protocol with head timeout, head size cap and connection caps.
        "http": functools.partial(GuardedHttpToolsProtocol, guard=guard),
        "ws": "none",  # footlight has no WebSocket routes
        "lifespan": "on",
        "access_log": False,
        "log_level": settings.log_level if settings.log_level != "info" else "warning",
        # footlight's own log configuration (logs.configure) is the one that counts.
        "log_config": None,
        "timeout_keep_alive": settings.limits.keep_alive_seconds,
        # Which proxies' X-Forwarded-* headers count is footlight's to decide
        # (FOOTLIGHT_TRUSTED_PROXIES, see edge.clients), not uvicorn's: by default uvicorn
        # would take the client address from X-Forwarded-For of any local process.
        "proxy_headers": False,
        # No `server: uvicorn` on every answer: a stranger need not learn what runs here,
        # and each header is one more that uvicorn checks with two regular expressions.
        "server_header": False,
    }


def serve(settings: Settings) -> int:
    logs.configure(settings.log_level, settings.log_format)

    # Every connection is a descriptor: take all the process may have (workers inherit it).
    capacity = connection_capacity(settings.limits.max_connections, raise_open_file_limit())
    where, projects, created = asyncio.run(_prepare_store(settings))
    several = settings.workers > 1
    # With several processes this one only holds the port: each of them listens on its own.
    sock = bind(
        settings.host,
        settings.port,
        settings.limits.header_timeout_seconds,
        shared=several,
        listen=not several,
    )
    port = sock.getsockname()[1]
    if settings.otlp_grpc_port is not None:
        try:
            grpc_port = _free_grpc_port(settings.host, settings.otlp_grpc_port)
        except ConfigError:
            sock.close()
            raise
        settings = dataclasses.replace(settings, otlp_grpc_port=grpc_port)
    print(_banner(settings, where, port, projects, created, capacity), flush=True)
    if several:
        from footlight.cli import workers

        with _shared_metrics():
            return workers.supervise(settings, port, capacity)
    from footlight.app import FootlightApp

    return run_server(FootlightApp(settings, open_store(settings)), settings, capacity, sock)


@contextlib.contextmanager
def _shared_metrics() -> Iterator[None]:
    """A private directory where every worker keeps its metrics, so that whichever worker
    answers `GET /metrics` sums them all (see footlight.metrics); removed at exit. One the
    operator set already (`PROMETHEUS_MULTIPROC_DIR`) is used as it is."""
    if metrics.MULTIPROCESS_DIR in os.environ:
        yield
        return
    directory = tempfile.mkdtemp(prefix="footlight-metrics-")
    os.environ[metrics.MULTIPROCESS_DIR] = directory
    try:
        yield
    finally:
        del os.environ[metrics.MULTIPROCESS_DIR]
        shutil.rmtree(directory, ignore_errors=True)
