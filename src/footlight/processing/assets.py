"""Asset capture: keeping the stylesheets, fonts and images a recording needs to replay.

A recording references the recorded site's assets by URL, and by the time someone watches it
those URLs may serve a new deploy, sit behind a login, or be gone. For a project that lists
asset origins (`footlight project update --asset-origin`), each stored payload queues its
session's `assets` job (migration 13), due `FOOTLIGHT_ASSET_DELAY_SECONDS` later; the job
reads the payloads after the session's scan cursor, finds the URLs their snapshots and
mutations reference (`footlight.core.asset_refs`), and settles each URL once per session:

- on an origin the project does not list: recorded as skipped, never fetched;
- fetched for another session of the project within `FOOTLIGHT_ASSET_REFETCH_SECONDS`:
  linked to the same bytes, or given the same failure, without fetching (a page's
  stylesheet is fetched about once per window, not once per visitor; the row keeps the time
  of that fetch, so the next window fetches it anew and sees a deploy);
- otherwise fetched by `footlight.processing.fetch` (allowed origins only, public addresses
  only unless the operator lists networks, checked after resolution and on every redirect,
  size, time and content-type caps, no credentials) and stored content-addressed: identical
  bytes are kept once, whichever sessions or projects saw them. A stylesheet's own `url()`s
  and `@import`s are settled the same way, a few levels deep.

Every outcome is a row (stored, failed with its reason, skipped with its reason), so a fetch
is never retried forever: a failed URL is not tried again for that session. What one session
can cost is bounded: `FOOTLIGHT_ASSET_MAX_URLS` rows (further URLs are only counted),
`FOOTLIGHT_ASSET_MAX_SESSION_BYTES` of assets, `FOOTLIGHT_ASSET_SESSION_FETCH_SECONDS` of
fetching per run, and an origin that fails three fetches in a row (down, or slow past the
timeout) is skipped for the rest of the run.

Durability. Each fetched asset is stored with its row in one transaction; the cursor moves,
with the job's end, only after every URL of the payloads before it has a row. A crash loses
the fetches in flight and the next run settles the same URLs again (rows already written are
not fetched twice). The job runs on its own processing loop (`Processor(kinds=("assets",))`),
so a slow site never holds up sessions' processing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import msgspec

from footlight.config import Settings
from footlight.core.asset_refs import recording_urls, stylesheet_urls
from footlight.core.clock import now_ms
from footlight.core.networks import Network
from footlight.core.payload import inflate
from footlight.core.rrweb import payload_events
from footlight.errors import StoreError
from footlight.processing.fetch import (
    AssetFetcher,
    FetchPolicy,
    FetchRefused,
    Unreachable,
    origin_of,
)
from footlight.store.base import AssetBody, AssetScan, AssetStore, Job, SessionAsset, StoredPayload

log = logging.getLogger("footlight.assets")

_PAGE_BYTES = 1024 * 1024
"""Stored payload bytes read at once (one larger payload is read alone)."""
_STYLESHEET_DEPTH = 3
"""Stylesheets imported from stylesheets are followed this many levels down."""
_STRIKES = 3
"""An origin unreachable this many times in a row is skipped for the rest of a run."""


@dataclass(frozen=True)
class CaptureSettings:
    networks: tuple[Network, ...] = ()
    max_bytes: int = 10 * 1024 * 1024
    max_session_bytes: int = 100 * 1024 * 1024
    max_urls: int = 1000
    timeout_seconds: float = 10.0
    concurrency: int = 4
    session_fetch_seconds: float = 120.0
    refetch_seconds: float = 600.0
    max_inflated_bytes: int = 64 * 1024 * 1024

    @classmethod
    def of(cls, settings: Settings) -> CaptureSettings:
        return cls(
            networks=settings.asset_allow_networks,
            max_bytes=settings.asset_max_bytes,
            max_session_bytes=settings.asset_max_session_bytes,
            max_urls=settings.asset_max_urls,
            timeout_seconds=settings.asset_fetch_timeout_seconds,
            concurrency=settings.asset_fetch_concurrency,
            session_fetch_seconds=settings.asset_session_fetch_seconds,
            refetch_seconds=settings.asset_refetch_seconds,
            max_inflated_bytes=settings.limits.max_inflated_bytes,
        )


def payload_urls(payloads: Sequence[StoredPayload], max_inflated: int) -> list[tuple[str, int]]:
    """(URL, when its payload arrived) for the asset URLs of `payloads`, first sighting only.

    A payload that cannot be read (it passed ingest's checks, so only a changed limit or a
    damaged store would do it) is skipped: its assets are lost to the replay, not the job.
    """
    found: dict[str, int] = {}
    for payload in payloads:
        try:
            data, _ = inflate(payload.body, max_inflated, "stored payload")
            events = payload_events(data)
        except (StoreError, msgspec.DecodeError, RecursionError, ValueError) as exc:
            log.warning("asset capture skips payload %d: %s", payload.seq, exc)
            continue
        for url in recording_urls(events):
            found.setdefault(url, payload.received_at)
    return list(found.items())


@dataclass
class _Session:
    """One run's state for a session: what is settled and what is left of its budgets."""

    scan: AssetScan
    recorded: set[str]
    stored_bytes: int
    deadline: float
    dropped: int = 0
    strikes: dict[str, int] = field(default_factory=dict)
    unwritten: list[SessionAsset] = field(default_factory=list)
    """Rows without bytes (failed, skipped, linked), written together once a level is done."""


class AssetCapture:
    """Runs `assets` jobs for a `Processor` (see the module's docstring)."""

    def __init__(self, store: AssetStore, settings: CaptureSettings) -> None:
        self.store = store
        self.settings = settings
        # One per process: fetches in flight are bounded across every session's run.
        self._slots = asyncio.Semaphore(settings.concurrency)

    def policy(self, origins: Sequence[str]) -> FetchPolicy:
        s = self.settings
        return FetchPolicy(
            origins=frozenset(origins),
            networks=s.networks,
            max_bytes=s.max_bytes,
            timeout_seconds=s.timeout_seconds,
            concurrency=s.concurrency,
        )

    async def capture(self, job: Job, owner: str, check: Callable[[], None]) -> bool:
        """Settle the URLs of the session's payloads after its cursor and end the job; False
        if the session is gone (the caller drops the job)."""
        scan = await self.store.asset_scan(job.key)
        if scan is None:
            return False
        after = scan.cursor
        state = _Session(
            scan=scan,
            recorded=set(scan.recorded),
            stored_bytes=scan.stored_bytes,
            deadline=time.monotonic() + self.settings.session_fetch_seconds,
        )
        if scan.origins:
            async with AssetFetcher(self.policy(scan.origins)) as fetcher:
                while True:
                    check()
                    page = await self.store.session_payloads(job.key, after, _PAGE_BYTES)
                    if not page:
                        break
                    found = await asyncio.to_thread(
                        payload_urls, page, self.settings.max_inflated_bytes
                    )
                    await self._settle(state, fetcher, found, check)
                    after = (page[-1].payload_id, page[-1].seq)
        check()
        await self.store.finish_assets(
            job, owner, after if after != scan.cursor else None, state.dropped
        )
        return True

    async def _settle(
        self,
        state: _Session,
        fetcher: AssetFetcher,
        found: Sequence[tuple[str, int]],
        check: Callable[[], None],
    ) -> None:
        """Give each new URL its row; stylesheets bring the URLs inside them, level by level."""
        level = [(url, seen) for url, seen in found if url not in state.recorded]
        for _ in range(_STYLESHEET_DEPTH + 1):
            if not level:
                return
            check()
            fresh: dict[str, int] = {}
            for url, seen in level:
                if url in state.recorded or url in fresh:
                    continue
                if len(state.recorded) + len(fresh) >= self.settings.max_urls:
                    state.dropped += 1
                    continue
                fresh[url] = seen
            state.recorded.update(fresh)
            results = await asyncio.gather(
                *(self._one(state, fetcher, url, seen) for url, seen in fresh.items())
            )
            await self._flush(state)
            level = [pair for found_inside in results for pair in found_inside]
        for _url, _seen in level:
            state.dropped += 1  # nested deeper than _STYLESHEET_DEPTH

    async def _one(
        self, state: _Session, fetcher: AssetFetcher, url: str, seen: int
    ) -> list[tuple[str, int]]:
        """Settle one URL (its row is written before this returns); the URLs inside it, if
        it is a stylesheet."""
        scan = state.scan
        origin = origin_of(url)
        skip = self._skip_reason(state, origin)
        if skip is not None:
            await self._record(state, SessionAsset(url, seen, now_ms(), "skipped", reason=skip))
            return []
        since = now_ms() - int(self.settings.refetch_seconds * 1000)
        recent = await self.store.recent_asset(scan.project_id, url, since)
        if recent is not None:
            # Another session fetched it lately: the same bytes (or the same failure) for
            # this one, as old as that fetch, so the next window fetches it anew.
            await self._record(state, replace(recent, seen_at=seen))
            if recent.status == "failed":
                return []
            state.stored_bytes += recent.size or 0
            if recent.content_type != "text/css" or recent.digest is None:
                return []
            # A stylesheet linked, not fetched: what it imports is this session's too.
            css = await self.store.asset_body(recent.digest)
            return [] if css is None else await _inside(css, recent.final_url or url, seen)
        async with self._slots:
            # Budgets are looked at again once a slot is free: they may have run out meanwhile.
            skip = self._skip_reason(state, origin)
            if skip is not None:
                row = SessionAsset(url, seen, now_ms(), "skipped", reason=skip)
                await self._record(state, row)
                return []
            try:
                fetched = await fetcher.fetch(url)
            except FetchRefused as exc:
                if isinstance(exc, Unreachable) and origin is not None:
                    state.strikes[origin] = state.strikes.get(origin, 0) + 1
                row = SessionAsset(url, seen, now_ms(), "failed", reason=exc.reason)
                await self._record(state, row)
                return []
        if origin is not None:
            state.strikes[origin] = 0
        if state.stored_bytes + len(fetched.body) > self.settings.max_session_bytes:
            reason = f"the session's assets reached {self.settings.max_session_bytes:,} bytes"
            await self._record(state, SessionAsset(url, seen, now_ms(), "skipped", reason=reason))
            return []
        # On a thread, as the stylesheet's parsing below: up to FOOTLIGHT_ASSET_MAX_BYTES of
        # work the event loop, which answers every push, should not do. (A fetch is rare
        # next to a push: the hop costs nothing that shows.)
        digest = await asyncio.to_thread(_sha256, fetched.body)
        row = SessionAsset(
            url,
            seen,
            now_ms(),
            "stored",
            digest=digest,
            final_url=fetched.final_url,
            size=len(fetched.body),
            content_type=fetched.content_type,
        )
        await self._record(state, row, AssetBody(digest, fetched.content_type, fetched.body))
        state.stored_bytes += len(fetched.body)
        if fetched.content_type != "text/css":
            return []
        return await _inside(fetched.body, fetched.final_url, seen)

    def _skip_reason(self, state: _Session, origin: str | None) -> str | None:
        if origin is None or origin not in state.scan.origins:
            return f"origin {origin or '(none)'} is not one of the project's asset origins"
        if state.strikes.get(origin, 0) >= _STRIKES:
            return f"{origin} failed {_STRIKES} fetches in a row in this run"
        if state.stored_bytes >= self.settings.max_session_bytes:
            return f"the session's assets reached {self.settings.max_session_bytes:,} bytes"
        if time.monotonic() > state.deadline:
            return (
                f"this run's fetch time ({self.settings.session_fetch_seconds:g} s,"
                " FOOTLIGHT_ASSET_SESSION_FETCH_SECONDS) was spent"
            )
        return None

    async def _record(
        self, state: _Session, row: SessionAsset, body: AssetBody | None = None
    ) -> None:
        """Fetched bytes are written at once (memory holds one asset per fetch slot); rows
        without bytes wait for `_flush`, so a thousand refusals cost one transaction."""
        if body is None:
            state.unwritten.append(row)
            return
        await self.store.record_assets(state.scan.session_id, state.scan.project_id, [row], [body])

    async def _flush(self, state: _Session) -> None:
        rows, state.unwritten = state.unwritten, []
        if rows:
            await self.store.record_assets(state.scan.session_id, state.scan.project_id, rows)


async def _inside(css: bytes, base: str, seen: int) -> list[tuple[str, int]]:
    """The URLs a stylesheet's `url()`s and `@import`s name, seen when it was."""
    found = await asyncio.to_thread(stylesheet_urls, css.decode("utf-8", "replace"), base)
    return [(inner, seen) for inner in found]


def _sha256(body: bytes) -> bytes:
    return hashlib.sha256(body).digest()
