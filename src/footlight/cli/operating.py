"""`footlight status` and `footlight purge`: what the store holds, and making room.

Both run beside a running `serve`, on the same store. `status` reads; `purge` deletes what
is older than each project's retention (what the server's hourly purge would) one session
per transaction, then gives the space back to the file system in short steps, so a server
beside it keeps acknowledging pushes throughout.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import msgspec

from footlight.cli.commands import Progress, opened, project_id_of
from footlight.config import Settings
from footlight.core.clock import now_ms
from footlight.core.ids import encode_project
from footlight.errors import ConfigError
from footlight.ui.format import size, when
from footlight.ui.status import count, project_lines, project_title, read_status, store_lines


async def status(settings: Settings, project: str | None, tables: bool, as_json: bool) -> None:
    """Print what the store holds per project, its disk and processing's queue."""
    project_ids = None if project is None else [project_id_of(project)]
    async with opened(settings) as store:
        report = await read_status(store, store.describe(), now_ms(), project_ids)
        table_sizes = (await store.footprint(tables=True)).tables if tables else []
        derived = await store.derived_rows(project_ids) if tables else {}
    if project is not None and not report.projects:
        raise ConfigError(f"no project {project}")
    if as_json:
        document: dict[str, Any] = {
            "store": report.where,
            "at": report.at,
            "footprint": report.footprint,
            "queue": report.gauges.queue,
            "recording_sessions": report.gauges.recording_sessions,
            "projects": [
                {**dataclasses.asdict(p), "verbose_id": encode_project(p.project_id)}
                for p in report.projects
            ],
        }
        if tables:
            document["tables"] = table_sizes
            document["derived_rows"] = {str(k): v for k, v in derived.items()}
        sys.stdout.write(msgspec.json.encode(document).decode() + "\n")
        return
    print(f"footlight status of {report.where} at {when(report.at)}")
    for line in store_lines(report):
        print(f"  {line}")
    for p in report.projects:
        print()
        print(project_title(p))
        for line in project_lines(p):
            print(f"  {line}")
        if tables:
            print(f"  derived rows: {derived.get(p.project_id, 0):,}")
    if tables:
        print()
        print(f"{'table':<24} {'rows':>14} {'on disk':>10}")
        for t in table_sizes:
            shown = "" if t.bytes is None else size(t.bytes)
            print(f"{t.name:<24} {t.rows:>14,} {shown:>10}")


async def purge(settings: Settings, dry_run: bool, compact: bool) -> None:
    """Delete what retention no longer keeps (or say what would go), then give the space
    back to the file system."""
    if compact and settings.store is not None:
        # Refused before anything is deleted, not after.
        raise ConfigError(
            "--compact is for the SQLite store; PostgreSQL gives purged months back by"
            " dropping them, and VACUUM FULL or pg_repack the rest"
        )
    async with opened(settings) as store:
        now = now_ms()
        projects = await store.project_storage(now)
        otlp = await store.expired_otlp_batches(now)
        sessions = sum(p.expired_sessions for p in projects)
        for p in projects:
            if p.retention_days is None:
                print(f"{project_title(p)}: keeps everything (no retention)")
            else:
                print(
                    f"{project_title(p)}: {count(p.expired_sessions, 'session')}"
                    f" ({size(p.expired_bytes)} of recordings) older than {p.retention_days} days"
                )
        if otlp:
            print(f"OTLP exports older than every project's retention: {otlp:,}")
        if dry_run:
            print("dry run: nothing deleted (`footlight purge` deletes them)")
            return
        progress = Progress(sys.stderr, "purging", sessions)
        purged = await store.purge_expired(now, progress=progress.update)
        progress.finish()
        print(
            f"deleted {count(purged.sessions, 'session')} ({size(purged.bytes_freed)} of"
            f" recordings), {count(purged.orphans, 'OTLP export')} and"
            f" {count(purged.assets, 'kept asset')} no session references"
        )
        reclaimed = await (store.compact() if compact else store.reclaim_space())
        returned = purged.returned_bytes + reclaimed.returned_bytes
        print(f"gave {size(returned)} back to the file system")
        if reclaimed.stuck_bytes:
            print(
                f"{size(reclaimed.stuck_bytes)} of free space stays inside the store: it was"
                " made before footlight gave space back page by page. `footlight purge"
                " --compact` rewrites it once (it needs that much free disk again, and writes"
                " wait until it is done: a few seconds per GB)"
            )
