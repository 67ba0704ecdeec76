"""The processing loop that runs beside the server: claim due jobs, derive, store, repeat.

Restart-safety comes from the store: a job is leased, derived off the event loop, and its
results stored in the same transaction that completes it. A crash at any point leaves the
job queued (its lease runs out) and the previous results in place, so the next run derives
the same rows again instead of adding to them. Several processes can run this loop on one
store; leases keep them from doing the same job at once.

Bounded work. A session is read a page of payloads at a time (`_PAGE_BYTES` of stored
bodies) and derived payload by payload (`processing.session.SessionDeriver`), so processing
holds one payload and the bounded state `processing.limits` allows, never a whole session.

Live. A session's job falls due once it has been quiet; meanwhile each stored payload queues
its `live` job, which appends the rows of the payloads stored since its last run
(`processing.live`). The finished session's run replaces them with the same rows.

Leases. A run renews its lease every third of the lease while it works, so a long job is not
taken over by another process; a renewal that finds the job taken over (this process was
stalled past its lease) stops the run, which then stores nothing.

Crash loops. Claiming a job counts an attempt and pushes the job's next chance back (the
lease, doubling with each attempt), so a job whose run kills the process (out of memory, a
crash in a C library) is not retried at once, and after `max_attempts` it is quarantined:
set aside with an error naming what happened, logged, and never claimed again until an
operator re-queues it (`footlight jobs retry`). A job that fails with an exception is
retried with a growing delay (capped at an hour) and quarantined after the same number of
attempts. Either way it never blocks the others.

Waking. With nothing due the loop sleeps, but not blindly for `poll_seconds`: the ingest of
the same process tells it (`work_queued`) when a committed write queued a job, and it wakes
when that job falls due (at once for OTLP and backend errors, after the inactivity period
for a session). Only the earliest such time is kept, so a burst of input wakes it once.
What it cannot be told of, jobs queued by other processes sharing the store and retries
after a failure, it finds by looking again every `poll_seconds`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TypeVar

from footlight import metrics
from footlight.core.clock import now_ms
from footlight.errors import LeaseLost, StoreError, StoreUnavailable, shown
from footlight.processing.assets import AssetCapture
from footlight.processing.derive import derive_backend_error, derive_otlp
from footlight.processing.limits import (
    DerivationLimits,
    bounded_backend_error,
    bounded_derived,
)
from footlight.processing.live import LiveSessions
from footlight.processing.session import SessionDeriver
from footlight.store.base import (
    Derived,
    DerivedLog,
    DerivedOccurrence,
    Job,
    JobKind,
    ProcessingStore,
    ServiceSeen,
)
from footlight.store.projects import ProjectKeys

log = logging.getLogger("footlight.processing")

_MAX_BACKOFF_MS = 3_600_000
PROCESSING_KINDS: tuple[JobKind, ...] = ("session", "otlp", "backend", "live")
"""What the main processing loop claims; "assets" has a loop of its own."""
_PAGE_BYTES = 1024 * 1024
"""Stored (compressed) payload bytes read at once; a larger payload is read alone."""
_SETTLE_SECONDS = 0.05
"""Least time between a claim that found nothing and the next one: input arriving a little
at a time (OTLP exports one by one) is then claimed in runs, not once per request."""


_Attributed = TypeVar("_Attributed", DerivedOccurrence, DerivedLog, ServiceSeen)


def _attributed(item: _Attributed, projects: Mapping[str, int]) -> _Attributed | None:
    """`item` with the project its key names; None if it names one `projects` lacks."""
    if item.project_key is None or item.project_id is not None:
        return item
    project = projects.get(item.project_key)
    return None if project is None else replace(item, project_id=project)


class _Run:
    """One job's run: whether its lease still holds."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.lost = False

    def check(self) -> None:
        if self.lost:
            raise LeaseLost(self.job.origin)


class Processor:
    def __init__(
        self,
        store: ProcessingStore,
        *,
        max_inflated_bytes: int,
        poll_seconds: float = 1.0,
        lease_ms: int = 300_000,
        retention_every_seconds: float | None = 3600.0,
        limits: DerivationLimits | None = None,
        max_attempts: int = 5,
        session_delay_seconds: float = 60.0,
        live_delay_seconds: float | None = 0.5,
        live_followed_sessions: int = 2_000,
        live_followed_bytes: int = 64 << 20,
        live_share: float = 1.0,
        kinds: Sequence[JobKind] = PROCESSING_KINDS,
        capture: AssetCapture | None = None,
        assets_delay_seconds: float = 2.0,
    ) -> None:
        """`session_delay_seconds` and `live_delay_seconds` are how long after its input a
        session's job and its live job fall due (the store's timing): when `work_queued`
        expects them. `live_followed_sessions` and `live_followed_bytes` bound the live
        derivers kept between runs. `live_share` (0 < share <= 1) is the most of the loop's
        time live runs take: after each, the loop waits (1 / share - 1) times as long as it
        took before it claims again.

        `kinds` are the jobs this loop claims: asset capture (`capture`, kind "assets") waits
        on other sites, so it runs on a loop of its own and never holds up the others.
        `retention_every_seconds` None: this loop leaves retention to another."""
        self.store = store
        self._kinds = tuple(kinds)
        self._capture = capture
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._max_inflated = max_inflated_bytes
        self._poll = poll_seconds
        self._delay_ms: dict[JobKind, int] = {"session": int(session_delay_seconds * 1000)}
        if live_delay_seconds is not None:
            self._delay_ms["live"] = int(live_delay_seconds * 1000)
        self._delay_ms["assets"] = int(assets_delay_seconds * 1000)
        self._next_due: int | None = None
        """The earliest time (epoch ms) a job this process was told of falls due; cleared
        by the claim that covers it."""
        self._wakeup = asyncio.Event()
        self._lease_ms = lease_ms
        self._retention_every = retention_every_seconds
        self._next_purge = 0.0
        self._limits = limits or DerivationLimits(max_inflated_bytes=max_inflated_bytes)
        self._max_attempts = max_attempts
        self._run: _Run | None = None
        self._live_pause = 1 / live_share - 1
        self._live_took = 0.0
        """Seconds the last live run took, until the loop has paused after it."""
        self._project_keys = ProjectKeys(store)
        self._live = LiveSessions(
            store,
            self._limits,
            max_followed=live_followed_sessions,
            max_followed_bytes=live_followed_bytes,
            page_bytes=_PAGE_BYTES,
        )

    def work_queued(self, kind: JobKind) -> None:
        """Ingest committed input that queued a job of `kind`: wake the loop when it is due.

        O(1) and never blocking, as ingest calls it once per request: the event is set only
        when the wake-up time moves earlier, so many calls before the loop runs wake it once.
        """
        if kind not in self._kinds or (kind == "live" and kind not in self._delay_ms):
            return  # another loop's, or live derivation is off: the store queued nothing
        due = now_ms() + self._delay_ms.get(kind, 0)
        if self._next_due is None or due < self._next_due:
            self._next_due = due
            self._wakeup.set()

    async def run(self) -> None:
        """Process until cancelled; a store outage pauses the loop, it does not end it."""
        while True:
            now = now_ms()
            if self._next_due is not None and self._next_due <= now:
                # This claim covers it; work queued while it runs sets a new one.
                self._next_due = None
            try:
                done = await self.run_due(now)
                await self._pause_after_live()
                await self._maybe_purge()
            except StoreUnavailable as exc:
                log.warning("processing paused: %s", exc)
                done = 0
            except Exception:
                # A bug here must not end processing for the life of the server.
                log.exception("processing loop failed; retrying")
                done = 0
            if done == 0:
                await self._idle()

    async def run_due(self, now: int | None = None) -> int:
        """Process one job due now, if there is one; return how many were handled (0 or 1)."""
        # One at a time: a lease covers one job's run, so a job never waits out its lease
        # behind others claimed with it and gets taken over (and done twice) meanwhile.
        jobs = await self.store.claim_jobs(
            self.owner, now if now is not None else now_ms(), self._lease_ms, 1, self._kinds
        )
        for job in jobs:
            if job.kind == "live":
                await self._process_live(job)
            else:
                await self._process(job)
        return len(jobs)

    async def _pause_after_live(self) -> None:
        """Leave the process to ingest for a while after a live run (`live_share`).

        Deriving a payload live costs about as much as its ingest (~0.26 ms of CPU for one
        of the SDK's pushes), and a run's claim, reads and commit come on top, so live runs
        back to back, with thousands of sessions recording, took the cores from ingest: on
        two cores at half the saturation rate, 43 % more CPU per request and a p99 twice as
        long as with live off. Live then falls further behind, which it does under such
        load anyway; a run covers all the payloads its session received since the last, and
        the finished session's run supersedes it."""
        took, self._live_took = self._live_took, 0.0
        if took and self._live_pause:
            await asyncio.sleep(took * self._live_pause)

    async def _idle(self) -> None:
        """Wait until work this process queued is due, or `poll_seconds` have passed."""
        started = time.monotonic()
        poll_at = started + self._poll
        settled_at = started + _SETTLE_SECONDS
        while True:
            self._wakeup.clear()
            wake_at = poll_at
            if self._next_due is not None:
                wake_at = min(wake_at, time.monotonic() + (self._next_due - now_ms()) / 1000)
            wait = max(wake_at, settled_at) - time.monotonic()
            if wait <= 0:
                return
            try:
                async with asyncio.timeout(wait):
                    await self._wakeup.wait()
            except TimeoutError:
                return

    async def drain(self) -> int:
        """Process until nothing is due; for tests and tools."""
        total = 0
        while (done := await self.run_due()) > 0:
            total += done
        return total

    async def _maybe_purge(self) -> None:
        if self._retention_every is None or time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + self._retention_every
        purged = await self.store.purge_expired(now_ms())
        metrics.retention_deleted.labels("sessions").inc(purged.sessions)
        metrics.retention_deleted.labels("otlp_batches").inc(purged.orphans)
        metrics.retention_deleted.labels("assets").inc(purged.assets)
        if not (purged.sessions or purged.orphans or purged.assets):
            return
        reclaimed = await self.store.reclaim_space()
        log.info(
            "retention: deleted %d sessions (%d bytes of recordings), %d old OTLP batches and"
            " %d kept assets no session references; gave %d bytes back to the file system%s",
            purged.sessions,
            purged.bytes_freed,
            purged.orphans,
            purged.assets,
            purged.returned_bytes + reclaimed.returned_bytes,
            (
                f" ({reclaimed.stuck_bytes} bytes of free space stay in the store until"
                " `footlight purge --compact`)"
                if reclaimed.stuck_bytes
                else ""
            ),
        )

    async def _derive_session(self, job: Job) -> Derived | None:
        run = self._run if self._run is not None and self._run.job == job else _Run(job)
        session = await self.store.session_input(job.key)
        if session is None:
            return None
        deriver = SessionDeriver(session, job.origin, self._limits)
        after: tuple[int, int] | None = None
        while True:
            run.check()
            page = await self.store.session_payloads(job.key, after, _PAGE_BYTES)
            if not page:
                break
            after = (page[-1].payload_id, page[-1].seq)
            # Off the event loop: inflating and decoding is CPU work. The page is emptied as
            # it is read, so each body is dropped once derived.
            await asyncio.to_thread(deriver.add_payloads, page)
        run.check()
        derived = await asyncio.to_thread(deriver.finish)
        derived.through = after
        return derived

    async def _derive(self, job: Job) -> Derived | None:
        if job.kind == "session":
            return await self._derive_session(job)
        limits = self._limits
        if job.kind == "otlp":
            batch = await self.store.otlp_input(job.key)
            if batch is None:
                return None

            def otlp() -> Derived:
                derived = derive_otlp(batch, job.origin, self._max_inflated)
                derived.max_services = limits.max_backend_services
                return bounded_derived(derived, limits, batch.received_at)

            return await asyncio.to_thread(otlp)
        item = await self.store.backend_error_input(job.key)
        if item is None:
            return None

        def backend() -> Derived:
            bounded = replace(item, error=bounded_backend_error(item.error, limits))
            return bounded_derived(
                derive_backend_error(bounded, job.origin), limits, bounded.received_at
            )

        # Off the event loop too: a stack trace is a stranger's text, parsed and matched.
        return await asyncio.to_thread(backend)

    async def _attribute(self, derived: Derived) -> Derived:
        """Errors and logs of no session get the project their exporter named (a project
        id, verbose id or key, resolved like initializeSession's); those naming no project
        this store has (deleted since the export was taken) are left out, and logged."""
        named: list[DerivedOccurrence | DerivedLog | ServiceSeen] = [
            *derived.errors,
            *derived.logs,
            *derived.services,
        ]
        keys = {i.project_key for i in named if i.project_key and i.project_id is None}
        if not keys:
            return derived
        resolved = await self._project_keys.resolve(keys)
        errors = [_attributed(e, resolved) for e in derived.errors]
        logs = [_attributed(g, resolved) for g in derived.logs]
        services = [_attributed(s, resolved) for s in derived.services]
        kept = replace(
            derived,
            errors=[e for e in errors if e is not None],
            logs=[g for g in logs if g is not None],
            services=[s for s in services if s is not None],
        )
        lost = len(derived.errors) + len(derived.logs) - len(kept.errors) - len(kept.logs)
        if lost:
            log.warning(
                "%s: %d errors and logs of no session name no known project (%s); not kept",
                derived.origin,
                lost,
                ", ".join(sorted(shown(k) for k in keys - resolved.keys())),
            )
        return kept

    async def _keep_leased(self, run: _Run) -> None:
        """Renew the run's lease every third of it until cancelled, or until it is lost."""
        every = self._lease_ms / 3000
        while True:
            await asyncio.sleep(every)
            try:
                held = await self.store.renew_lease(run.job, self.owner, now_ms() + self._lease_ms)
            except StoreUnavailable as exc:
                # The run may still finish within the lease; completing checks it holds it.
                log.warning("could not renew the lease of %s: %s", run.job.origin, exc)
                continue
            if not held:
                run.lost = True
                return

    async def _runnable(self, job: Job) -> bool:
        """False, with the job quarantined, if it was claimed once more than allowed: its
        last run never ended (the process died during it, or lost its lease)."""
        if job.attempts <= self._max_attempts:
            return True
        metrics.processing_runs.labels(job.kind, "quarantined").inc()
        reason = (
            f"quarantined after {job.attempts - 1} attempts: the last did not finish"
            " (the process ended or stalled while running it)"
        )
        await self.store.fail_job(job, self.owner, reason, now_ms(), quarantine=True)
        log.error("%s %s; `footlight jobs retry` re-queues it", job.origin, reason)
        return False

    async def _give_back(self, jobs: list[Job]) -> None:
        """Shutting down: give the jobs back at once rather than let their leases run out,
        and without counting this attempt against them."""
        for job in jobs:
            try:
                await asyncio.shield(self.store.release_job(job, self.owner, now_ms()))
            except (StoreError, StoreUnavailable) as exc:
                log.warning("could not give %s back: %s", job.origin, exc)

    async def _failed(self, job: Job, exc: Exception) -> None:
        """A run that raised: retried with a growing delay, quarantined after the last."""
        quarantine = job.attempts >= self._max_attempts
        delay = min(_MAX_BACKOFF_MS, 10_000 * 2 ** min(job.attempts - 1, 16))
        log.error(
            "processing %s failed (attempt %d of %d)%s",
            job.origin,
            job.attempts,
            self._max_attempts,
            "; quarantined, `footlight jobs retry` re-queues it" if quarantine else "",
            exc_info=exc,
        )
        await self.store.fail_job(
            job,
            self.owner,
            f"{type(exc).__name__}: {exc}",
            now_ms() + delay,
            quarantine=quarantine,
        )

    async def _process(self, job: Job) -> None:
        if not await self._runnable(job):
            return
        run = self._run = _Run(job)
        renewing = asyncio.create_task(self._keep_leased(run), name=f"lease {job.origin}")
        started = time.perf_counter()
        outcome = "done"
        try:
            if job.kind == "assets":
                if self._capture is None or not await self._capture.capture(
                    job, self.owner, run.check
                ):
                    outcome = "dropped"
                    await self.store.drop_job(job, self.owner)
                return
            derived = await self._derive(job)
            run.check()
            if derived is None:
                outcome = "dropped"
                await self.store.drop_job(job, self.owner)
                return
            if job.kind == "otlp":
                _count_otlp_items(derived)
            await self.store.complete_job(job, self.owner, await self._attribute(derived))
        except asyncio.CancelledError:
            outcome = "given_back"
            await self._give_back([job])
            raise
        except StoreUnavailable:
            outcome = "unavailable"
            raise  # the lease runs out and the job is claimed again once the store is back
        except LeaseLost:
            outcome = "lost"
            log.warning("%s was taken over by another run; its results are dropped", job.origin)
        except Exception as exc:
            outcome = "failed"
            await self._failed(job, exc)
        finally:
            renewing.cancel()
            self._run = None
            _count_run(job, outcome, started)

    async def _process_live(self, job: Job) -> None:
        """A live run. Unlike other jobs', its lease is not renewed: it is short, and if it
        outlives its lease and another process runs it too, the session's cursor lets only
        one of them store it."""
        if not await self._runnable(job):
            return
        started = time.perf_counter()
        outcome = "done"
        try:
            if not await self._live.run(job, self.owner):
                outcome = "dropped"
                await self.store.drop_job(job, self.owner)
        except asyncio.CancelledError:
            outcome = "given_back"
            await self._give_back([job])
            raise
        except StoreUnavailable:
            outcome = "unavailable"
            raise
        except Exception as exc:
            outcome = "failed"
            await self._failed(job, exc)
        finally:
            self._live_took = time.perf_counter() - started
            _count_run(job, outcome, started)


def _count_run(job: Job, outcome: str, started: float) -> None:
    metrics.processing_runs.labels(job.kind, outcome).inc()
    metrics.processing_seconds.labels(job.kind).observe(time.perf_counter() - started)


def _count_otlp_items(derived: Derived) -> None:
    for item, count in (
        ("spans", len(derived.spans)),
        ("logs", len(derived.logs)),
        ("metric_points", len(derived.metrics)),
        ("errors", len(derived.errors)),
    ):
        if count:
            metrics.otlp_items.labels(item).inc(count)
