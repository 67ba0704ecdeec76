"""What the store holds and what retention would free, in sentences a person can act on.

`footlight status` prints them and `/ui/status` shows them: both read one `StatusReport`
and word it the same way ("project 2 holds 14.2 GB; 9.8 GB older than its 30-day retention
would be freed by the next purge"). Sizes are decimal (1 GB = 10⁹ bytes), as disks are sold
and `df -H` shows them.
"""

from __future__ import annotations

from dataclasses import dataclass

from footlight.core.ids import encode_project
from footlight.store.base import ProjectStorage, ReadStore, StoreFootprint, StoreGauges
from footlight.ui.format import duration, size, when

PURGE_EVERY = "hourly"
"""How often retention runs in a server (footlight.processing.worker)."""


@dataclass(frozen=True)
class StatusReport:
    where: str
    """The store, as `describe()` names it."""
    at: int
    gauges: StoreGauges
    projects: list[ProjectStorage]

    @property
    def footprint(self) -> StoreFootprint:
        return self.gauges.footprint


async def read_status(
    store: ReadStore, where: str, now: int, project_ids: list[int] | None = None
) -> StatusReport:
    gauges = await store.store_gauges(now)
    return StatusReport(where, now, gauges, await store.project_storage(now, project_ids))


def count(value: int, noun: str) -> str:
    return f"{value:,} {noun}{'' if value == 1 else 's'}"


def store_lines(report: StatusReport) -> list[str]:
    """The store's disk, processing's queue and the sessions recording: every project's, so
    only for who may read every project."""
    lines = []
    footprint = report.footprint
    disk = f"{size(footprint.used_bytes)} on disk"
    if footprint.reusable_bytes:
        disk += (
            f", of which {size(footprint.reusable_bytes)} is free space inside the store"
            " (reused before it grows; `footlight purge` gives it back to the file system)"
        )
    if footprint.free_bytes is not None:
        disk += f"; {size(footprint.free_bytes)} free on its file system"
    lines.append(f"store: {disk}")
    queue = report.gauges.queue
    waiting = [q for q in queue if q.waiting]
    if not waiting:
        lines.append("processing: nothing waiting")
    else:
        parts = []
        for q in waiting:
            part = f"{q.kind} {q.waiting:,} waiting"
            if q.due:
                lag = duration(report.at - q.oldest_due_at) if q.oldest_due_at else "0s"
                part += f" ({q.due:,} due, the oldest for {lag})"
            parts.append(part)
        lines.append("processing: " + "; ".join(parts))
    quarantined = sum(q.quarantined for q in queue)
    if quarantined:
        lines.append(
            f"processing: {count(quarantined, 'job')} quarantined (`footlight jobs quarantined`"
            " lists them, `footlight jobs retry` runs them again)"
        )
    lines.append(f"recording now: {count(report.gauges.recording_sessions, 'session')}")
    return lines


def project_title(p: ProjectStorage) -> str:
    return f"project {p.project_id} ({encode_project(p.project_id)}) {p.name!r}"


def project_lines(p: ProjectStorage) -> list[str]:
    """What one project holds, what its retention frees next, and its last hour."""
    if p.sessions == 0:
        held = "holds no sessions"
    else:
        held = (
            f"holds {size(p.payload_bytes)} of recordings in {count(p.sessions, 'session')},"
            f" the oldest started {when(p.oldest_session_at)}"
        )
    lines = [held]
    verbose = encode_project(p.project_id)
    if p.retention_days is None:
        lines.append(
            "keeps everything (no retention; `footlight project retention"
            f" {verbose} 30` keeps 30 days)"
        )
    elif p.expired_sessions:
        lines.append(
            f"{size(p.expired_bytes)} in {count(p.expired_sessions, 'session')} older than its"
            f" {p.retention_days}-day retention would be freed by the next purge ({PURGE_EVERY},"
            " or now with `footlight purge`)"
        )
    else:
        lines.append(f"nothing older than its {p.retention_days}-day retention")
    lines.append(
        f"last hour: {count(p.recent_sessions, 'session')} started,"
        f" {count(p.recent_payloads, 'payload')} stored ({size(p.recent_bytes)})"
    )
    return lines
