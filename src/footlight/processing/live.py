"""Live sessions: a recording session's panes and summary, derived a few payloads at a time.

A session is processed once it has been quiet for `FOOTLIGHT_SESSION_INACTIVITY_SECONDS`; until
then its console, network, errors, track events, pages and browser would be nowhere. So each
stored payload also queues the session's `live` job, due `FOOTLIGHT_LIVE_DELAY_SECONDS` after
the first payload since the last run (later payloads join that run). A run feeds the payloads
stored after the session's live cursor to the session's `SessionDeriver` and appends the rows
they gave under the origin 'live:<id>', with the summary and pages so far, moving the cursor
in the same transaction (`ProcessingStore.append_live`): a run that crashes appends nothing,
and the next starts where the last commit ended.

Live equals final. When the finished session is processed, its rows replace the live ones
(`complete_job`). Both come from the same deriver fed the same payloads in the same order,
under the same row budget, so they are the same rows: only their origin changes. The one
exception is order: live reads the payloads stored after its cursor, so a payload stored late
with an earlier place in replay order (an old retry) is not shown live; the finished session's
run reads it in its place.

State. Between runs a deriver holds the replay metrics so far, the row budget and the counts,
not the rows (they are stored). `LiveSessions` keeps the derivers of the last
`max_followed` sessions it ran, within `max_followed_bytes`. A run that finds none, or one
not at the cursor (the first run in this process, evicted, or the session followed by another
process sharing the store until now), rebuilds it by reading the session's payloads up to
the cursor again, rows dropped: a cost proportional to the session so far, paid once per
such change, or at every run of a session that is always evicted before its next one. So the
bounds should hold the sessions that record at once: a deriver weighs ~4 KB and ~8 bytes per
user interaction, where rebuilding a 30-minute session costs ~0.3 ms per payload read again.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

from footlight.processing.limits import DerivationLimits
from footlight.processing.session import SessionDeriver
from footlight.store.base import (
    Derived,
    Job,
    PayloadKey,
    ProcessingStore,
    StoredPayload,
)


@dataclass
class _Followed:
    deriver: SessionDeriver
    through: PayloadKey | None
    """The last payload the deriver has read."""
    weight: int = 0
    """The deriver's bytes when it was last kept."""


def _place(payload: StoredPayload) -> PayloadKey:
    return (payload.payload_id, payload.seq)


class LiveSessions:
    """Runs `live` jobs, keeping the derivers of the sessions it followed last."""

    def __init__(
        self,
        store: ProcessingStore,
        limits: DerivationLimits,
        *,
        max_followed: int,
        max_followed_bytes: int,
        page_bytes: int,
    ) -> None:
        self._store = store
        self._limits = limits
        self._max_followed = max_followed
        self._max_followed_bytes = max_followed_bytes
        self._page_bytes = page_bytes
        self._followed: OrderedDict[int, _Followed] = OrderedDict()
        self._followed_bytes = 0

    async def run(self, job: Job, owner: str) -> bool:
        """Derive the session's new payloads and append them; False if the session is gone."""
        derived = await self._derive(job)
        if derived is None:
            return False
        run, since, followed = derived
        kept = await self._store.append_live(job, owner, run, since)
        if kept and followed is not None:
            self._keep(job.key, followed)
        return True

    def _keep(self, key: int, followed: _Followed) -> None:
        """Keep a session's deriver for its next run, forgetting the ones run longest ago
        while more than `max_followed` or `max_followed_bytes` are kept."""
        followed.weight = followed.deriver.weight
        self._followed[key] = followed
        self._followed_bytes += followed.weight
        while self._followed and (
            len(self._followed) > self._max_followed
            or self._followed_bytes > self._max_followed_bytes
        ):
            self._followed_bytes -= self._followed.popitem(last=False)[1].weight

    def _take_followed(self, key: int) -> _Followed | None:
        followed = self._followed.pop(key, None)
        if followed is not None:
            self._followed_bytes -= followed.weight
        return followed

    async def _derive(self, job: Job) -> tuple[Derived, PayloadKey | None, _Followed | None] | None:
        """What the run derived, the cursor it started from, and the deriver to keep if it
        is stored; None if the session is gone."""
        # Taken out for the run: kept again only once its rows are committed, so a run that
        # fails leaves no deriver ahead of the store's cursor.
        followed = self._take_followed(job.key)
        # The session, the cursor and the payloads after it in one read: most runs follow a
        # deriver at the cursor through a push or two, and need nothing else.
        start = await self._store.live_input(job.key, self._page_bytes)
        if start is None:
            return None
        since = start.cursor
        if followed is not None and followed.through != since:
            followed = None  # behind or ahead of the store: read again up to the cursor
        if not start.page:
            # Nothing new (the finished session's run, or the last live run, took it all).
            return Derived(job.origin, through=since), since, followed
        if followed is None:
            followed = _Followed(SessionDeriver(start.session, job.origin, self._limits), None)
            # The session's first run has read its beginning already; any other reads it
            # again from there.
            first, more = (start.page, start.more) if since is None else ([], True)
        else:
            first, more = start.page, start.more
        deriver = followed.deriver
        through = _place(first[-1]) if first else followed.through
        last = first  # fed with the take, in one trip to a thread, unless a page follows
        while more:
            page = await self._store.session_payloads(job.key, through, self._page_bytes)
            if not page:
                break
            through = _place(page[-1])
            await asyncio.to_thread(self._read, deriver, last, since)
            last = page
        derived = await asyncio.to_thread(self._read_and_take, deriver, last, since, job, through)
        followed.through = through
        return derived, since, followed

    @classmethod
    def _read_and_take(
        cls,
        deriver: SessionDeriver,
        page: list[StoredPayload],
        since: PayloadKey | None,
        job: Job,
        through: PayloadKey | None,
    ) -> Derived:
        """Feed the last page and take what the run derived."""
        cls._read(deriver, page, since)
        return deriver.take(job.origin, through)

    @staticmethod
    def _read(deriver: SessionDeriver, page: list[StoredPayload], since: PayloadKey | None) -> None:
        """Feed a page; rows of payloads up to `since` (stored already) are dropped."""
        while page:
            payload = page.pop(0)
            deriver.add_payload(payload)
            if since is not None and _place(payload) <= since:
                deriver.drop_rows()
