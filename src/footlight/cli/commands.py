"""The commands that act on a store: projects, tokens, sessions, export.

Each opens the store named by the settings beside a running `serve` (SQLite's locking
makes that safe) and closes it again. Only `project create` may create a new store; every
other command refuses a data directory that holds none, so a typo in `--data-dir` is an
error rather than a new, empty store.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, TextIO, cast, get_args

from footlight.api.auth import hash_token, new_token
from footlight.api.events import events_json
from footlight.config import Settings
from footlight.core.clock import now_ms
from footlight.core.ids import decode_project, encode_project
from footlight.errors import ConfigError
from footlight.ingest.daily_quotas import DAY_SECONDS, utc_day
from footlight.store import Project, SQLStore, open_store
from footlight.store.base import ApiToken, JobKind, QueuedJob, SessionView, TokenScope
from footlight.terminal import json_for_terminal


@asynccontextmanager
async def opened(settings: Settings, *, create: bool = False) -> AsyncIterator[SQLStore]:
    store = open_store(settings)
    if not create and not await asyncio.to_thread(store.exists):
        if settings.store is not None:
            raise ConfigError(
                f"no footlight schema in {store.describe()}; run `footlight migrate` first"
            )
        raise ConfigError(
            f"no footlight store in {settings.data_dir.resolve()}; check --data-dir"
            " (or FOOTLIGHT_DATA_DIR), or start `footlight serve` there first"
        )
    await store.open()
    try:
        yield store
    finally:
        await store.close()


UNCHANGED = object()
"""An option `project update` was not given: that quota stays as it is."""


def size_text(size: int) -> str:
    """A byte count for people: 1.5 GiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def describe_quotas(project: Project) -> str:
    quotas = []
    if project.quota_bytes_per_day is not None:
        quotas.append(f"{size_text(project.quota_bytes_per_day)}/day")
    if project.quota_sessions_per_day is not None:
        quotas.append(f"{project.quota_sessions_per_day} sessions/day")
    return ", ".join(quotas)


def describe_project(project: Project, asset_origins: Sequence[str] = ()) -> str:
    extras = []
    if project.keys:
        extras.append(f"keys: {', '.join(project.keys)}")
    if project.retention_days is not None:
        extras.append(f"retention: {project.retention_days} days")
    quotas = describe_quotas(project)
    if quotas:
        extras.append(f"quota: {quotas}")
    if asset_origins:
        extras.append(f"keeps assets of: {', '.join(asset_origins)}")
    tail = "".join(f"  {e}" for e in extras)
    return f"{project.id:>6}  {encode_project(project.id):<10}  {project.name}{tail}"


def project_id_of(text: str) -> int:
    project_id = decode_project(text)
    if project_id is None:
        raise ConfigError(f"{text!r} is not a project id or verbose id")
    return project_id


async def project_create(
    settings: Settings,
    name: str,
    keys: Sequence[str],
    retention_days: int | None,
    quotas: Mapping[str, int | None],
) -> None:
    async with opened(settings, create=True) as store:
        project = await store.create_project(name, keys)
        if retention_days is not None:
            await store.set_retention(project.id, retention_days)
            project = next(p for p in await store.list_projects() if p.id == project.id)
        if any(v is not None for v in quotas.values()):
            project = await store.set_quotas(project.id, quotas)
    print(describe_project(project))


async def project_update(
    settings: Settings,
    project: str,
    quotas: Mapping[str, int | None],
    asset_origins: Sequence[str] | None = None,
) -> None:
    """Change quotas and/or asset origins (`asset_origins` None: unchanged; empty: none)."""
    if not quotas and asset_origins is None:
        raise ConfigError(
            "nothing to change: give --quota-bytes-per-day, --quota-sessions-per-day or"
            " --asset-origin"
        )
    project_id = project_id_of(project)
    async with opened(settings) as store:
        if asset_origins is not None:
            await store.set_asset_origins(project_id, asset_origins)
        if quotas:
            print(describe_project(await store.set_quotas(project_id, quotas)))
            print(
                "running servers apply it within FOOTLIGHT_QUOTA_SYNC_SECONDS (2 s by default)",
                file=sys.stderr,
            )
        if asset_origins is not None:
            print(describe_asset_origins(project_id, await store.asset_origins(project_id)))
            if asset_origins and not settings.asset_capture:
                print(
                    "note: FOOTLIGHT_ASSET_CAPTURE is off here, so nothing is captured until"
                    " it is on",
                    file=sys.stderr,
                )


def describe_asset_origins(project_id: int, origins: Sequence[str]) -> str:
    if not origins:
        return f"project {project_id}: asset capture off (its recordings' assets are not kept)"
    return (
        f"project {project_id}: keeps the stylesheets, fonts and images its recordings load"
        f" from {', '.join(origins)}"
    )


def _day_text(day: int) -> str:
    return datetime.fromtimestamp(day * DAY_SECONDS, UTC).strftime("%Y-%m-%d")


async def project_usage(settings: Settings, project: str | None, days: int) -> None:
    """Per UTC day and project: accepted requests and bytes, new sessions, refusals by limit."""
    today = utc_day()
    async with opened(settings) as store:
        project_ids = None if project is None else [project_id_of(project)]
        counts = await store.usage(project_ids, today - days + 1)
    rows: dict[tuple[int, int], dict[str, tuple[int, int]]] = {}
    for count in counts:
        rows.setdefault((count.day, count.project_id), {})[count.kind] = (count.count, count.bytes)
    print(
        f"{'day':<10}  {'project':>7}  {'requests':>9}  {'received':>10}  {'sessions':>8}  refused"
    )
    for (day, project_id), kinds in sorted(rows.items()):
        requests, received = kinds.get("accepted", (0, 0))
        sessions = kinds.get("sessions", (0, 0))[0]
        refused = sorted(
            (kind.removeprefix("refused:"), count)
            for kind, (count, _) in kinds.items()
            if kind.startswith("refused:")
        )
        refused_text = (
            f"{sum(c for _, c in refused)} ({', '.join(f'{k} {c}' for k, c in refused)})"
            if refused
            else "0"
        )
        shown_project = str(project_id) if project_id else "-"
        print(
            f"{_day_text(day):<10}  {shown_project:>7}  {requests:>9}  {size_text(received):>10}"
            f"  {sessions:>8}  {refused_text}"
        )
    if any(project_id == 0 for _, project_id in rows):
        print(
            "project '-': refused before any project was known (per-client limits, OTLP)",
            file=sys.stderr,
        )
    print(
        "(servers add their counts every FOOTLIGHT_QUOTA_SYNC_SECONDS, 2 s by default)",
        file=sys.stderr,
    )


async def project_list(settings: Settings) -> None:
    async with opened(settings) as store:
        projects = await store.list_projects()
        origins = {p.id: await store.asset_origins(p.id) for p in projects}
    print(f"{'id':>6}  {'verbose id':<10}  name")
    for project in projects:
        print(describe_project(project, origins[project.id]))


async def project_retention(settings: Settings, project: str, days: int | None) -> None:
    async with opened(settings) as store:
        await store.set_retention(project_id_of(project), days)
    kept = "forever" if days is None else f"for {days} days"
    print(f"project {project}: sessions are kept {kept}")


def _projects_of(token: ApiToken) -> str:
    return "all projects" if token.project_id is None else f"project {token.project_id}"


def _describe_token(token: ApiToken) -> str:
    return f"{token.id:>4}  {token.name:<24}  {token.scope:<5}  {_projects_of(token)}"


async def token_create(
    settings: Settings, project: str | None, name: str, scope: TokenScope = "read"
) -> None:
    async with opened(settings) as store:
        project_id = None if project is None else project_id_of(project)
        secret = new_token()
        token = await store.add_token(hash_token(secret), name, project_id, now_ms(), scope)
    print(secret)
    print(
        f"token {token.id} ({token.name}, {token.scope}, {_projects_of(token)}) created;"
        " it is shown only now: store it somewhere safe",
        file=sys.stderr,
    )


async def token_list(settings: Settings) -> None:
    async with opened(settings) as store:
        tokens = await store.list_tokens()
    print(f"{'id':>4}  {'name':<24}  scope  reads")
    for token in tokens:
        print(_describe_token(token))


async def token_revoke(settings: Settings, token_id: int) -> None:
    async with opened(settings) as store:
        if not await store.revoke_token(token_id):
            raise ConfigError(f"no token {token_id}")
    print(f"token {token_id} revoked")


async def session_delete(settings: Settings, secure_id: str) -> None:
    async with opened(settings) as store:
        if not await store.delete_session(secure_id):
            raise ConfigError(f"no session {secure_id!r}")
    print(f"session {secure_id} deleted, with everything derived from it")


class Progress:
    """A one-line progress bar on a terminal; occasional plain lines otherwise (CI logs)."""

    def __init__(self, out: TextIO, label: str, total: int) -> None:
        self._out = out
        self._label = label
        self._total = max(total, 1)
        self._tty = out.isatty()
        self._last_shown = -1

    def update(self, done: int, written: int) -> None:
        percent = 100 * done // self._total
        if self._tty:
            filled = percent // 4
            bar = "#" * filled + "-" * (25 - filled)
            self._out.write(f"\r{self._label} [{bar}] {percent:3d}% {written / 1e6:8.1f} MB")
        elif percent >= self._last_shown + 10 or done == self._total:
            self._out.write(f"{self._label}: {percent}% ({written / 1e6:.1f} MB)\n")
            self._last_shown = percent
        self._out.flush()

    def finish(self) -> None:
        if self._tty:
            self._out.write("\n")
            self._out.flush()


async def export(
    settings: Settings, secure_id: str, output: Path | None, *, html: bool = False
) -> None:
    """Write a session's rrweb events (a JSON array rrweb's Replayer plays) to a file, or
    with `html` a page that replays it offline (footlight.ui.standalone)."""
    async with opened(settings) as store:
        view = await store.session_view(secure_id)
        if view is None:
            raise ConfigError(f"no session {secure_id!r}")
        count, _ = await store.payload_totals(secure_id)
        target = sys.stdout.buffer if output is None else None
        if html and target is not None and target.isatty():
            raise ConfigError("an HTML export is a file to open in a browser: give -o FILE")
        target = target or cast(Path, output).open("wb")
        what = "as HTML" if html else ""
        progress = Progress(sys.stderr, f"exporting {secure_id} {what}".rstrip(), count)
        started = time.monotonic()
        try:
            if html:
                written = await _html(store, view, target, progress)
            else:
                written = await _events_array(store, secure_id, target, progress)
        finally:
            if output is not None:
                target.close()
        progress.finish()
    where = "stdout" if output is None else str(output)
    contents = "HTML (the player, the events, the assets kept)" if html else "events"
    print(
        f"exported {count} payloads, {written / 1e6:.1f} MB of {contents} to {where}"
        f" in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )


async def _events_array(
    store: SQLStore, secure_id: str, target: BinaryIO, progress: Progress
) -> int:
    # Recorded text may hold C1 controls (legal in JSON strings) a terminal would obey.
    shown: Callable[[bytes], bytes] = json_for_terminal if target.isatty() else (lambda c: c)
    target.write(b"[")
    written, first, done = 2, True, 0
    async for body in store.payload_bodies(secure_id):
        chunk = shown(events_json(body))
        if chunk:
            target.write(chunk if first else b"," + chunk)
            written += len(chunk) + (0 if first else 1)
            first = False
        done += 1
        progress.update(done, written)
    target.write(b"]")
    return written


async def _html(store: SQLStore, view: SessionView, target: BinaryIO, progress: Progress) -> int:
    # Here, not at the top: the UI package (Starlette, templates) would slow every command.
    from footlight.ui import standalone

    if not standalone.player_installed():
        raise ConfigError(
            "the rrweb player is not installed: run scripts/build-ui (scripts/serve does it)"
        )
    return await standalone.write_standalone(store, view, target, progress.update)


def _describe_job(job: QueuedJob) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime((job.quarantined_at or 0) / 1000))
    error = (job.last_error or "").replace("\n", " ")
    name = f"{job.kind}:{job.key}"
    return f"{name:<20}  {job.attempts:>8}  {when + 'Z':<20}  {shown_text(error, 100)}"


def shown_text(text: str, limit: int) -> str:
    """`text` for a terminal: control characters (a stranger's escapes) as `\\xNN`, cut."""
    safe = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[: limit * 2])
    return safe if len(safe) <= limit else safe[:limit] + "..."


async def jobs_quarantined(settings: Settings) -> None:
    async with opened(settings) as store:
        jobs = await store.quarantined_jobs()
    print(f"{'job':<20}  {'attempts':>8}  {'quarantined (UTC)':<20}  last error")
    for job in jobs:
        print(_describe_job(job))


def job_reference(text: str) -> tuple[JobKind, int]:
    kind, _, key = text.partition(":")
    if kind not in get_args(JobKind) or not key.isdigit():
        raise ConfigError(f"{text!r} is not a job (kind:key, e.g. session:42)")
    return cast(JobKind, kind), int(key)


async def jobs_retry(settings: Settings, job: str | None) -> None:
    kind, key = job_reference(job) if job is not None else (None, None)
    async with opened(settings) as store:
        count = await store.retry_quarantined(now_ms(), kind, key)
    if job is not None and count == 0:
        raise ConfigError(f"no quarantined job {job}")
    print(f"re-queued {count} quarantined job{'s' if count != 1 else ''}")


async def migrate(settings: Settings) -> None:
    """Create or upgrade the schema; several processes may run this at once."""
    async with opened(settings, create=True) as store:
        where = store.describe()
    print(f"{where}: schema is up to date")
