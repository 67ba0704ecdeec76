"""The `footlight` command.

    footlight serve [--host H] [--port P]
    footlight project create NAME [--key KEY ...] [--retention-days N] [--quota-...]
    footlight project update PROJECT [--quota-bytes-per-day SIZE] [--quota-sessions-per-day N]
    footlight project list
    footlight project usage [PROJECT] [--days N]
    footlight project retention PROJECT DAYS|forever
    footlight token create [--project PROJECT] [--name NAME] [--scope read|admin]
    footlight token list | footlight token revoke ID
    footlight session delete SECURE_ID
    footlight export SECURE_ID [-o FILE] [--html]
    footlight jobs quarantined | footlight jobs retry [KIND:KEY]
    footlight migrate
    footlight status [--project P] [--tables] [--json]
    footlight purge [--dry-run] [--compact]

Every subcommand takes `--data-dir` (or `FOOTLIGHT_DATA_DIR`), or `--store postgresql://...`
(or `FOOTLIGHT_STORE`), so the CLI acts on the very store a running `serve` uses. Errors are
one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from footlight import __version__, config, logs, terminal
from footlight.cli import commands, operating
from footlight.config import load_settings, parse_port
from footlight.core import nesting
from footlight.errors import ConfigError, StoreError, StoreUnavailable
from footlight.store.base import TOKEN_SCOPES

MAX_RETENTION_DAYS = 36_500


def _data_dir(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="directory of the embedded store (env FOOTLIGHT_DATA_DIR; default ./footlight-data)",
    )
    parser.add_argument(
        "--store",
        type=_store_url,
        default=None,
        metavar="URL",
        help="a postgresql:// URL to use PostgreSQL instead (env FOOTLIGHT_STORE)",
    )
    return parser


def _store_url(text: str) -> str | None:
    try:
        return config.parse_store_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _retention(text: str) -> int | None:
    if text.lower() in ("forever", "off", "none"):
        return None
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not 0 < days <= MAX_RETENTION_DAYS:
        raise argparse.ArgumentTypeError(
            f"days must be between 1 and {MAX_RETENTION_DAYS} (or 'forever')"
        )
    return days


_UNITS = {
    "": 1,
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
    "KIB": 1024,
    "MIB": 1024**2,
    "GIB": 1024**3,
    "TIB": 1024**4,
}
_OFF = ("off", "none", "unlimited")


def _quota_bytes(text: str) -> int | None:
    """`10GB`, `512MiB`, `1000000` (bytes), or `off`."""
    if text.strip().lower() in _OFF:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).upper() if match else ""
    if match is None or unit not in _UNITS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size (like 5000000, 500MB or 2GiB) or 'off'"
        )
    value = int(float(match.group(1)) * _UNITS[unit])
    if not 0 < value < 2**62:
        raise argparse.ArgumentTypeError(f"{text!r}: a quota must be at least 1 byte")
    return value


def _quota_count(text: str) -> int | None:
    if text.strip().lower() in _OFF:
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number or 'off'") from None
    if not 0 < value < 2**62:
        raise argparse.ArgumentTypeError(f"{text!r}: a quota must be at least 1")
    return value


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not 0 < value <= MAX_RETENTION_DAYS:
        raise argparse.ArgumentTypeError(f"days must be between 1 and {MAX_RETENTION_DAYS}")
    return value


def _quota_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--quota-bytes-per-day",
        type=_quota_bytes,
        default=default,
        metavar="SIZE",
        help="request bytes the project may receive per UTC day (like 5GB or 500MiB; 'off' for"
        " no quota); beyond it ingest answers 429 until midnight UTC",
    )
    parser.add_argument(
        "--quota-sessions-per-day",
        type=_quota_count,
        default=default,
        metavar="N",
        help="sessions the project may start per UTC day ('off' for no quota)",
    )


def _asset_origin(text: str) -> str | None:
    """An origin (scheme, host, port) as asset capture compares them; `off` for none."""
    if text.strip().lower() == "off":
        return None
    # Here, not at the top: every command would pay for importing the fetcher's HTTP stack.
    from footlight.processing.fetch import origin_of

    origin = origin_of(text.strip())
    path = urllib.parse.urlsplit(text.strip()).path
    if origin is None or path not in ("", "/"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an origin: give scheme, host and port only, like"
            " https://shop.example or http://localhost:8000"
        )
    return origin


def _row_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an id") from None
    if not 0 < value < 2**63:
        raise argparse.ArgumentTypeError(f"{text!r} is not an id (ids are 1 to 2^63-1)")
    return value


# Settings that have hand-written options (shared with other subcommands, or with a custom
# help text); every other setting gets its option from `config.SETTINGS`.
_HAND_WRITTEN = ("host", "port", "data_dir", "store")


def _setting_type(spec: config.SettingSpec) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return spec.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = spec.attr  # argparse names the type in "invalid <name> value"
    return parse


def _setting_flags(parser: argparse.ArgumentParser) -> None:
    for spec in config.SETTINGS:
        if spec.attr in _HAND_WRITTEN:
            continue
        parser.add_argument(
            spec.flag,
            dest=f"setting_{spec.attr}",
            type=_setting_type(spec),
            # Absent unless given: a given value may be None (`--otlp-grpc-port off`).
            default=argparse.SUPPRESS,
            metavar="VALUE",
            help=f"{spec.help.rstrip('.')} (env {spec.env})",
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="footlight",
        description="Self-hostable session replay backend for the highlight.run SDK.",
    )
    parser.add_argument("--version", action="version", version=f"footlight {__version__}")
    commands_ = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = _data_dir(commands_.add_parser("serve", help="run the server"))
    serve.add_argument(
        "--host", default=None, help="interface (env FOOTLIGHT_HOST; default 127.0.0.1)"
    )
    serve.add_argument(
        "--port",
        type=parse_port,
        default=None,
        help="TCP port, 0 for any free one (env FOOTLIGHT_PORT; default 8082)",
    )
    _setting_flags(serve)

    project = commands_.add_parser(
        "project", help="create, update and list projects; retention, quotas and usage"
    )
    project_ = project.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = _data_dir(project_.add_parser("create", help="create a project"))
    create.add_argument("name")
    create.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="KEY",
        help="an extra public key initializeSession accepts for this project (repeatable): "
        "an old Highlight project id, a LaunchDarkly client-side id",
    )
    create.add_argument(
        "--retention-days",
        type=_retention,
        default=None,
        metavar="DAYS",
        help="delete sessions older than this (default: keep forever)",
    )
    _quota_options(create, None)
    update = _data_dir(
        project_.add_parser("update", help="change a project's daily quotas or asset origins")
    )
    update.add_argument("project", help="project id or verbose id")
    _quota_options(update, commands.UNCHANGED)
    update.add_argument(
        "--asset-origin",
        action="append",
        type=_asset_origin,
        default=None,
        metavar="ORIGIN",
        help="keep the stylesheets, fonts and images its recordings load from this origin"
        " (like https://shop.example; repeatable; the list replaces the project's; 'off'"
        " stops capture)",
    )
    _data_dir(project_.add_parser("list", help="list projects"))
    usage = _data_dir(
        project_.add_parser(
            "usage", help="what projects received and what limits refused, per UTC day"
        )
    )
    usage.add_argument(
        "project", nargs="?", default=None, help="project id or verbose id (default: all)"
    )
    usage.add_argument(
        "--days", type=_days, default=7, help="how many days back, today included (default 7)"
    )
    retention = _data_dir(project_.add_parser("retention", help="set how long sessions are kept"))
    retention.add_argument("project", help="project id or verbose id")
    retention.add_argument("days", type=_retention, help="days, or 'forever'")

    token = commands_.add_parser("token", help="read-API tokens")
    token_ = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    token_create = _data_dir(token_.add_parser("create", help="create a token (shown once)"))
    token_create.add_argument(
        "--project", default=None, help="the only project it reads (default: all projects)"
    )
    token_create.add_argument("--name", default="api", help="a label for `token list`")
    token_create.add_argument(
        "--scope",
        choices=TOKEN_SCOPES,
        default="read",
        help="read: every GET (default); admin: also deleting sessions (DELETE)",
    )
    _data_dir(token_.add_parser("list", help="list tokens (never the secrets)"))
    revoke = _data_dir(token_.add_parser("revoke", help="revoke a token"))
    revoke.add_argument("id", type=_row_id)

    session = commands_.add_parser("session", help="manage sessions")
    session_ = session.add_subparsers(dest="action", required=True, metavar="ACTION")
    delete = _data_dir(
        session_.add_parser("delete", help="delete a session and everything derived from it")
    )
    delete.add_argument("secure_id")

    jobs = commands_.add_parser("jobs", help="processing jobs set aside after repeated failures")
    jobs_ = jobs.add_subparsers(dest="action", required=True, metavar="ACTION")
    _data_dir(jobs_.add_parser("quarantined", help="list quarantined jobs and why"))
    retry = _data_dir(
        jobs_.add_parser("retry", help="re-queue quarantined jobs (all, or the one named)")
    )
    retry.add_argument("job", nargs="?", default=None, help="kind:key, e.g. session:42")

    _data_dir(
        commands_.add_parser(
            "migrate", help="create or upgrade the store's schema (safe from several processes)"
        )
    )

    status = _data_dir(
        commands_.add_parser(
            "status", help="what each project holds, what retention frees next, disk and queue"
        )
    )
    status.add_argument("--project", default=None, help="only this project (id or verbose id)")
    status.add_argument(
        "--tables",
        action="store_true",
        help="also each table's rows and each project's derived rows (reads every table)",
    )
    status.add_argument("--json", action="store_true", help="one JSON document, for scripts")

    purge = _data_dir(
        commands_.add_parser(
            "purge",
            help="delete what retention no longer keeps now, and give the space back",
        )
    )
    purge.add_argument(
        "--dry-run", action="store_true", help="say what would be deleted; delete nothing"
    )
    purge.add_argument(
        "--compact",
        action="store_true",
        help="then rewrite the whole SQLite store (VACUUM): for a store made before footlight"
        " gave space back page by page; writes wait until it is done",
    )

    export = _data_dir(
        commands_.add_parser("export", help="write a session's rrweb events as a JSON array")
    )
    export.add_argument("secure_id")
    export.add_argument("-o", "--output", type=Path, default=None, help="file (default stdout)")
    export.add_argument(
        "--html",
        action="store_true",
        help="write one HTML file that replays the session offline: the player, the events,"
        " and the assets kept for it (FOOTLIGHT_ASSET_* settings) inline",
    )
    return parser


def _run(args: argparse.Namespace) -> int:
    flags = {
        name.removeprefix("setting_"): value
        for name, value in vars(args).items()
        if name.startswith("setting_")
    }
    settings = load_settings(
        {
            "data_dir": args.data_dir,
            "store": args.store,
            "host": getattr(args, "host", None),
            "port": getattr(args, "port", None),
        },
        given=flags,
    )
    # Before any thread starts: every command reads stored payloads (export), and serve
    # reads strangers' JSON, as deep as the setting says.
    nesting.configure(settings.limits.max_json_depth)
    if args.command == "serve":
        from footlight.cli.serve import serve

        return serve(settings)
    action = getattr(args, "action", None)
    match (args.command, action):
        case ("project", "create"):
            job = commands.project_create(
                settings,
                args.name,
                args.key,
                args.retention_days,
                {
                    "bytes_per_day": args.quota_bytes_per_day,
                    "sessions_per_day": args.quota_sessions_per_day,
                },
            )
        case ("project", "update"):
            changes = {
                "bytes_per_day": args.quota_bytes_per_day,
                "sessions_per_day": args.quota_sessions_per_day,
            }
            origins = args.asset_origin
            job = commands.project_update(
                settings,
                args.project,
                {k: v for k, v in changes.items() if v is not commands.UNCHANGED},
                None if origins is None else [o for o in origins if o is not None],
            )
        case ("project", "usage"):
            job = commands.project_usage(settings, args.project, args.days)
        case ("project", "list"):
            job = commands.project_list(settings)
        case ("project", "retention"):
            job = commands.project_retention(settings, args.project, args.days)
        case ("token", "create"):
            job = commands.token_create(settings, args.project, args.name, args.scope)
        case ("token", "list"):
            job = commands.token_list(settings)
        case ("token", "revoke"):
            job = commands.token_revoke(settings, args.id)
        case ("session", "delete"):
            job = commands.session_delete(settings, args.secure_id)
        case ("jobs", "quarantined"):
            job = commands.jobs_quarantined(settings)
        case ("jobs", "retry"):
            job = commands.jobs_retry(settings, args.job)
        case ("migrate", _):
            job = commands.migrate(settings)
        case ("status", _):
            job = operating.status(settings, args.project, args.tables, args.json)
        case ("purge", _):
            job = operating.purge(settings, args.dry_run, args.compact)
        case ("export", _):
            job = commands.export(settings, args.secure_id, args.output, html=args.html)
        case _:  # pragma: no cover - argparse allows nothing else
            raise AssertionError(args)
    asyncio.run(job)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure("info", "text")  # `serve` configures its own from its settings
    terminal.install()
    try:
        return _run(args)
    except (ConfigError, StoreError, StoreUnavailable) as exc:
        print(f"footlight: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`footlight export ... | head`): not an error of ours. Point
        # stdout at nothing so the interpreter's final flush does not complain again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:
        print(f"footlight: error: {exc}", file=sys.stderr)
        return 2
