"""Daily quotas: what each project accepted today, summed over every process through the store.

Daily quotas must hold across nodes, so they are counted in the store, but not on the hot
path: each process adds up what it accepted (and what each limit refused) in memory, and
every `quota_sync_seconds` adds those counters to the store (one upsert per counter, in one
short write) and reads back the quotas and today's totals. A process checks a quota against
the last totals it read plus its own unsynced counts, so it can only miss what other
processes accepted since their last sync: the overshoot is at most what the other processes
accept in two sync intervals (each of them bounded by its project rates). If the store is
unreachable the counters wait in memory and the last totals stay in force (quotas fail
open, as PostHog's do): ingest itself answers 503 then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from footlight.errors import (
    QuotaExceeded,
    StoreError,
    StoreUnavailable,
)
from footlight.store import Project, UsageCount
from footlight.store.base import IngestStore

log = logging.getLogger("footlight.limits")

DAY_SECONDS = 86_400


def utc_day(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // DAY_SECONDS)


def seconds_to_midnight(now: float | None = None) -> float:
    now = time.time() if now is None else now
    return DAY_SECONDS - now % DAY_SECONDS


class Usage:
    """Per-project daily counters and quotas, shared with the other processes through the
    store (see the module docstring)."""

    def __init__(self, store: IngestStore, sync_seconds: float) -> None:
        self._store = store
        self._sync_seconds = sync_seconds
        self._quotas: dict[int, Project] = {}
        self._day = utc_day()
        self._totals: dict[int, tuple[int, int]] = {}
        """Today's (bytes, sessions) of projects with a quota, all processes, at the last sync."""
        self._unsynced: dict[int, list[int]] = {}
        """Today's [bytes, sessions] this process accepted since then."""
        self._accepted: dict[int, dict[int, list[int]]] = {}
        """Counts to add to the store: day -> project -> [requests, bytes, sessions]."""
        self._accepted_today = self._accepted.setdefault(self._day, {})
        self._refusals: dict[tuple[int, int, str], list[int]] = {}
        """Refusals to add to the store: (project, day, limit) -> [count, bytes]."""
        self._failing = False

    def _today(self) -> int:
        day = utc_day()
        if day != self._day:
            self._day = day
            self._totals = {}
            self._unsynced = {}
            self._accepted_today = self._accepted.setdefault(day, {})
        return day

    def accepted(self, project: int, day: int, requests: int, size: int, sessions: int) -> None:
        counts = self._accepted_today if day == self._day else self._accepted.setdefault(day, {})
        counted = counts.get(project)
        if counted is None:
            counts[project] = [requests, size, sessions]
        else:
            counted[0] += requests
            counted[1] += size
            counted[2] += sessions
        if day == self._day and project in self._quotas:
            unsynced = self._unsynced.setdefault(project, [0, 0])
            unsynced[0] += size
            unsynced[1] += sessions

    def refused(self, project: int, limit: str, size: int) -> None:
        key = (project, self._today(), limit)
        counted = self._refusals.get(key)
        if counted is None:
            self._refusals[key] = [1, size]
        else:
            counted[0] += 1
            counted[1] += size

    def _take_counts(self) -> list[UsageCount]:
        """The counts to add to the store, forgotten here (`_restore` puts them back)."""
        accepted, self._accepted = self._accepted, {}
        self._accepted_today = self._accepted.setdefault(self._day, {})
        refusals, self._refusals = self._refusals, {}
        counts = []
        for day, projects in accepted.items():
            for project, (requests, size, sessions) in projects.items():
                if requests or size:
                    counts.append(UsageCount(project, day, "accepted", requests, size))
                if sessions:
                    counts.append(UsageCount(project, day, "sessions", sessions, 0))
        for (project, day, limit), (count, size) in refusals.items():
            counts.append(UsageCount(project, day, f"refused:{limit}", count, size))
        return counts

    def _restore(self, counts: list[UsageCount]) -> None:
        for c in counts:
            if c.kind == "accepted":
                self._add_accepted(c.project_id, c.day, c.count, c.bytes, 0)
            elif c.kind == "sessions":
                self._add_accepted(c.project_id, c.day, 0, 0, c.count)
            else:
                key = (c.project_id, c.day, c.kind.removeprefix("refused:"))
                counted = self._refusals.setdefault(key, [0, 0])
                counted[0] += c.count
                counted[1] += c.bytes

    def _add_accepted(
        self, project: int, day: int, requests: int, size: int, sessions: int
    ) -> None:
        counted = self._accepted.setdefault(day, {}).setdefault(project, [0, 0, 0])
        counted[0] += requests
        counted[1] += size
        counted[2] += sessions
        self._accepted_today = self._accepted.setdefault(self._day, {})

    def admit(self, project: int, size: int, sessions: int) -> Ticket:
        """Count a request of `size` bytes starting `sessions` sessions towards today's usage;
        raise QuotaExceeded (counting nothing) if that would pass one of the project's quotas."""
        day = self._today()
        quota = self._quotas.get(project)
        if quota is not None:
            used_bytes, used_sessions = self._totals.get(project, (0, 0))
            unsynced = self._unsynced.get(project)
            if unsynced is not None:
                used_bytes += unsynced[0]
                used_sessions += unsynced[1]
            wait = seconds_to_midnight()
            if (
                sessions
                and quota.quota_sessions_per_day is not None
                and used_sessions + sessions > quota.quota_sessions_per_day
            ):
                raise QuotaExceeded(
                    f"project {project} has started {used_sessions} sessions today (UTC), its"
                    f" daily quota is {quota.quota_sessions_per_day} (limit:"
                    f" quota_sessions_per_day, set with `footlight project update {project}"
                    f" --quota-sessions-per-day`); it resets at 00:00 UTC, in {wait:.0f} s",
                    "quota_sessions_per_day",
                    wait,
                )
            if (
                size
                and quota.quota_bytes_per_day is not None
                and used_bytes + size > quota.quota_bytes_per_day
            ):
                raise QuotaExceeded(
                    f"project {project} has received {used_bytes} bytes today (UTC); {size}"
                    f" more would pass its daily quota of {quota.quota_bytes_per_day} (limit:"
                    f" quota_bytes_per_day, set with `footlight project update {project}"
                    f" --quota-bytes-per-day`); it resets at 00:00 UTC, in {wait:.0f} s",
                    "quota_bytes_per_day",
                    wait,
                )
        self.accepted(project, day, 1, size, sessions)
        return Ticket(self, project, day, 1, size, sessions)

    async def sync(self) -> None:
        """Add this process's counters to the store and read back the quotas and totals."""
        day = self._today()
        sent = {project: (c[0], c[1]) for project, c in self._unsynced.items()}
        counts = self._take_counts()
        try:
            totals = await self._store.sync_usage(counts, day)
        except (StoreError, StoreUnavailable) as exc:
            self._restore(counts)
            if not self._failing:
                log.warning("usage counters could not be stored, will try again: %s", exc)
            self._failing = True
            return
        if self._failing:
            log.info("usage counters are stored again")
            self._failing = False
        if self._today() != day:
            return  # midnight passed meanwhile: these totals are yesterday's
        for project, (sent_bytes, sent_sessions) in sent.items():
            unsynced = self._unsynced.get(project)
            if unsynced is not None:
                unsynced[0] -= sent_bytes
                unsynced[1] -= sent_sessions
        self._quotas = totals.quotas
        self._totals = totals.today

    async def run(self) -> None:
        """Sync every `sync_seconds` until cancelled; then once more, so nothing counted by a
        process that stops cleanly is lost."""
        try:
            while True:
                await asyncio.sleep(self._sync_seconds)
                await self.sync()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.sync())


class Ticket:
    """What an admitted request counted towards today's usage; `cancel` takes it back if the
    request then fails (it stored nothing)."""

    __slots__ = ("_usage", "bytes", "day", "project", "requests", "sessions")

    def __init__(
        self, usage: Usage, project: int, day: int, requests: int, size: int, sessions: int
    ) -> None:
        self._usage = usage
        self.project = project
        self.day = day
        self.requests = requests
        self.bytes = size
        self.sessions = sessions

    def cancel(self) -> None:
        self._usage.accepted(self.project, self.day, -self.requests, -self.bytes, -self.sessions)
        self.requests = self.bytes = self.sessions = 0

    def not_new(self) -> None:
        """The session it counted as new already existed (another process created it)."""
        self._usage.accepted(self.project, self.day, 0, 0, -self.sessions)
        self.sessions = 0
