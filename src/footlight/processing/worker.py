"""The processing loop that runs beside the server: claim due jobs, derive, store, repeat.

Restart-safety comes from the store: a job is leased, derived off the event loop, and its
results stored in the same transaction that completes it. A crash at any point leaves the
job queued (its lease runs out) and the previous results in place, so the next run derives
the same rows again instead of adding to them. Several processes can run this loop on one
store; leases keep them from doing the same job at once.

A job that fails is retried with a growing delay (capped at an hour) and its error kept in
the queue for operators; it never blocks the others.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid

from footlight.ingest.service import now_ms
from footlight.processing.derive import derive_backend_error, derive_otlp
from footlight.processing.session import derive_session
from footlight.store import Store, StoreUnavailable
from footlight.store.base import Derived, Job, LeaseLost

log = logging.getLogger("footlight.processing")

_MAX_BACKOFF_MS = 3_600_000


class Processor:
    def __init__(
        self,
        store: Store,
        *,
        max_inflated_bytes: int,
        poll_seconds: float = 1.0,
        lease_ms: int = 300_000,
        retention_every_seconds: float = 3600.0,
    ) -> None:
        self.store = store
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._max_inflated = max_inflated_bytes
        self._poll = poll_seconds
        self._lease_ms = lease_ms
        self._retention_every = retention_every_seconds
        self._next_purge = 0.0

    async def run(self) -> None:
        """Process until cancelled; a store outage pauses the loop, it does not end it."""
        while True:
            try:
                done = await self.run_due()
                await self._maybe_purge()
            except StoreUnavailable as exc:
                log.warning("processing paused: %s", exc)
                done = 0
            except Exception:
                # A bug here must not end processing for the life of the server.
                log.exception("processing loop failed; retrying")
                done = 0
            if done == 0:
                await asyncio.sleep(self._poll)

    async def run_due(self, now: int | None = None) -> int:
        """Process one job due now, if there is one; return how many were handled (0 or 1)."""
        # One at a time: a lease covers one job's run, so a job never waits out its lease
        # behind others claimed with it and gets taken over (and done twice) meanwhile.
        jobs = await self.store.claim_jobs(
            self.owner, now if now is not None else now_ms(), self._lease_ms, 1
        )
        for job in jobs:
            await self._process(job)
        return len(jobs)

    async def drain(self) -> int:
        """Process until nothing is due; for tests and `footlight process`."""
        total = 0
        while (done := await self.run_due()) > 0:
            total += done
        return total

    async def _maybe_purge(self) -> None:
        if time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + self._retention_every
        purged = await self.store.purge_expired(now_ms())
        if purged.sessions or purged.orphans:
            log.info(
                "retention: deleted %d sessions and %d old OTLP batches",
                purged.sessions,
                purged.orphans,
            )

    async def _derive(self, job: Job) -> Derived | None:
        if job.kind == "session":
            session = await self.store.session_input(job.key)
            if session is None:
                return None
            return await asyncio.to_thread(derive_session, session, job.origin)
        if job.kind == "otlp":
            batch = await self.store.otlp_input(job.key)
            if batch is None:
                return None
            return await asyncio.to_thread(derive_otlp, batch, job.origin, self._max_inflated)
        error = await self.store.backend_error_input(job.key)
        if error is None:
            return None
        # Off the event loop too: a stack trace is a stranger's text, parsed and matched.
        return await asyncio.to_thread(derive_backend_error, error, job.origin)

    async def _process(self, job: Job) -> None:
        try:
            derived = await self._derive(job)
            if derived is None:
                await self.store.drop_job(job, self.owner)
                return
            await self.store.complete_job(job, self.owner, derived)
        except StoreUnavailable:
            raise  # the lease runs out and the job is claimed again once the store is back
        except LeaseLost:
            log.warning("%s was taken over by another run; its results are dropped", job.origin)
        except Exception as exc:
            delay = min(_MAX_BACKOFF_MS, 10_000 * 2 ** min(job.attempts, 16))
            log.exception("processing %s failed (attempt %d)", job.origin, job.attempts + 1)
            await self.store.fail_job(
                job, self.owner, f"{type(exc).__name__}: {exc}", now_ms() + delay
            )
