"""The `footlight` command.

    footlight serve [--host H] [--port P] [--data-dir DIR]
    footlight project create NAME [--key KEY ...]
    footlight project list

Every subcommand takes `--data-dir` (or `FOOTLIGHT_DATA_DIR`), so the CLI acts on the very
store a running `serve` uses; SQLite's locking makes that safe while it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from footlight import __version__
from footlight.config import ConfigError, Settings, load_settings, parse_port
from footlight.ingest.ids import encode_project
from footlight.store import Project, StoreError, StoreUnavailable, open_store

log = logging.getLogger("footlight")


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="directory of the embedded store (env FOOTLIGHT_DATA_DIR; default ./footlight-data)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="footlight",
        description="Self-hostable session replay backend for the highlight.run SDK.",
    )
    parser.add_argument("--version", action="version", version=f"footlight {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the ingest server")
    serve.add_argument(
        "--host", default=None, help="interface (env FOOTLIGHT_HOST; default 127.0.0.1)"
    )
    serve.add_argument(
        "--port",
        type=parse_port,
        default=None,
        help="TCP port, 0 for any free one (env FOOTLIGHT_PORT; default 8082)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="how much to log to stderr (default info)",
    )
    _add_data_dir(serve)

    project = commands.add_parser("project", help="create and list projects")
    project_commands = project.add_subparsers(
        dest="project_command", required=True, metavar="ACTION"
    )
    create = project_commands.add_parser("create", help="create a project")
    create.add_argument("name")
    create.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="KEY",
        help="an extra public key initializeSession accepts for this project (repeatable): "
        "an old Highlight project id, a LaunchDarkly client-side id",
    )
    _add_data_dir(create)
    listing = project_commands.add_parser("list", help="list projects")
    _add_data_dir(listing)
    return parser


def _describe(project: Project) -> str:
    keys = f"  keys: {', '.join(project.keys)}" if project.keys else ""
    return f"{project.id:>6}  {encode_project(project.id):<10}  {project.name}{keys}"


async def _project_create(settings: Settings, name: str, keys: Sequence[str]) -> Project:
    store = open_store(settings)
    await store.open()
    try:
        return await store.create_project(name, keys)
    finally:
        await store.close()


async def _project_list(settings: Settings) -> list[Project]:
    store = open_store(settings)
    if not store.exists():
        # A mistyped --data-dir must not quietly create (and list) an empty store.
        raise ConfigError(
            f"no footlight store in {settings.data_dir.resolve()}; check --data-dir"
            " (or FOOTLIGHT_DATA_DIR), or start `footlight serve` there first"
        )
    await store.open()
    try:
        return await store.list_projects()
    finally:
        await store.close()


async def _prepare_store(settings: Settings) -> tuple[str, list[Project], Project | None]:
    """Create (or migrate) the store and project 1 before the server starts listening."""
    store = open_store(settings)
    await store.open()
    try:
        created = await store.ensure_default_project()
        return store.describe(), await store.list_projects(), created
    finally:
        await store.close()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


_ALL_INTERFACES = ("0.0.0.0", "::", "")  # noqa: S104 - names, not a bind


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _banner(
    settings: Settings, where: str, port: int, projects: list[Project], created: Project | None
) -> str:
    listening = _url(settings.host, port)
    browser_url = listening
    if settings.host in _ALL_INTERFACES:
        browser_url = _url("<address browsers reach>", port)
    project = projects[0]
    snippet = f"{{ backendUrl: '{browser_url}', otlpEndpoint: '{browser_url}' }}"
    lines = [
        f"footlight {__version__}",
        f"  data:       {settings.data_dir.resolve()} ({where})",
        f"  listening:  {listening}  (GraphQL at / and /public, OTLP at /v1/*)",
        f"  projects:   {len(projects)}" + (" (created project 1)" if created else ""),
        "",
        f"Record sessions of project {project.id} ({project.name!r}) with:",
        f"  H.init('{encode_project(project.id)}', {snippet})",
        "",
    ]
    return "\n".join(lines)


def _serve(settings: Settings, log_level: str) -> int:
    import uvicorn

    from footlight.app import FootlightApp

    where, projects, created = asyncio.run(_prepare_store(settings))
    sock = _bind(settings.host, settings.port)
    port = sock.getsockname()[1]
    print(_banner(settings, where, port, projects, created), flush=True)
    config = uvicorn.Config(
        FootlightApp(settings, open_store(settings)),
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=log_level if log_level != "info" else "warning",
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    return 0 if server.started else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(getattr(args, "log_level", "info")).upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    overrides = {
        "data_dir": args.data_dir,
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
    }
    try:
        settings = load_settings(overrides)
        if args.command == "serve":
            return _serve(settings, args.log_level)
        if args.project_command == "create":
            project = asyncio.run(_project_create(settings, args.name, args.key))
            print(_describe(project))
            return 0
        projects = asyncio.run(_project_list(settings))
        print(f"{'id':>6}  {'verbose id':<10}  name")
        for project in projects:
            print(_describe(project))
        return 0
    except (ConfigError, StoreError, StoreUnavailable) as exc:
        print(f"footlight: error: {exc}", file=sys.stderr)
        return 2
