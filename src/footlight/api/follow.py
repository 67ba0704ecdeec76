"""Following a recording while it records: its events a page at a time after a cursor, and a
long poll that waits for the next payload.

    GET /api/v1/sessions/{id}/events?after=            the first page
    GET /api/v1/sessions/{id}/events?after=CURSOR      the page after CURSOR (answered at once)
    GET /api/v1/sessions/{id}/events?after=CURSOR&follow=1
                                                       ...or, with nothing after it yet, once
                                                       a payload arrives (or `wait_seconds`)

Each answer is one JSON object: the events of the next payloads in replay order (at most
`page_bytes` of stored payloads), `next` (the cursor to ask after next time), `more` (payloads
are stored beyond this page: ask again at once), `live` (the session still records: input
within `quiet_seconds` and not yet finished) and `last_input_at`. A finished session's
follow request is answered at once. Without `after` the route
answers the whole recording as one array, as before.

Why a long poll, not Server-Sent Events or a WebSocket. A follower needs a page of events
every second or two; a long poll is one ordinary request per page, so it passes every reverse
proxy that passes the rest of the API (no buffering to turn off, no upgrade to allow) and
needs nothing footlight does not already have. It looks for new payloads in the store, not in
this process's memory, every `poll_seconds` while it waits, so it sees pushes that another
node on the same PostgreSQL took. At most `max_followers` requests wait at once per process;
one more is answered 429.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from starlette.requests import Request

from footlight.api.events import events_json
from footlight.api.params import decode_cursor, encode_cursor, param
from footlight.api.shapes import EventsPage
from footlight.core.clock import now_ms
from footlight.errors import HTTPError
from footlight.ingest.offload import run_sized
from footlight.store.base import PayloadKey, ReadStore, RecordingPage, SessionView

MiB = 1024 * 1024


@dataclass(frozen=True)
class FollowSettings:
    wait_seconds: float = 20.0
    """Longest a `follow=1` request waits for a new payload before answering empty."""
    quiet_seconds: float = 15.0
    """A session with no input for this long is no longer `live`."""
    max_followers: int = 100
    """`follow=1` requests waiting at once, per process; one more gets 429."""
    poll_seconds: float = 0.5
    """How often a waiting request looks for new payloads in the store."""
    page_bytes: int = 4 * MiB
    """Stored (compressed) payload bytes a page holds (at least one payload)."""


_encode = msgspec.json.Encoder().encode


def wants_page(request: Request) -> bool:
    """Whether the events route was asked for a page (`after`) rather than the whole array."""
    return "after" in request.query_params


class Followers:
    """Answers event pages, bounding the requests that wait for new payloads."""

    def __init__(self, settings: FollowSettings) -> None:
        self.settings = settings
        self._waiting = 0

    async def page(
        self,
        request: Request,
        store: ReadStore,
        view: SessionView,
        read: Callable[[bytes], bytes] = events_json,
    ) -> bytes:
        """The JSON answer for `view`'s events after the request's `after` cursor; `read`
        turns a stored payload into its comma-joined events (as `stream_events`)."""
        after = _after(request)
        follow = param(request, "follow") in ("1", "true")
        settings = self.settings
        page = await store.recording_page(view.id, after, settings.page_bytes)
        if follow and not page.bodies and view.processing:
            page = await self._wait(request, store, view, after)
        chunks = [
            chunk for body in page.bodies if (chunk := await run_sized(len(body), True, read, body))
        ]
        through = page.through or after
        live = view.processing and (
            page.last_input_at is not None
            and now_ms() - page.last_input_at < settings.quiet_seconds * 1000
        )
        return _encode(
            EventsPage(
                events=msgspec.Raw(b"[" + b",".join(chunks) + b"]"),
                next=None if through is None else encode_cursor(*through),
                more=page.more,
                live=bool(live),
                last_input_at=page.last_input_at,
            )
        )

    async def _wait(
        self, request: Request, store: ReadStore, view: SessionView, after: PayloadKey | None
    ) -> RecordingPage:
        settings = self.settings
        if self._waiting >= settings.max_followers:
            raise HTTPError(
                429,
                f"{self._waiting} requests already follow sessions on this server"
                " (FOOTLIGHT_MAX_FOLLOWERS); ask again without follow=1, or later",
                "TOO_MANY_FOLLOWERS",
            )
        self._waiting += 1
        try:
            give_up = time.monotonic() + settings.wait_seconds
            while True:
                await asyncio.sleep(settings.poll_seconds)
                page = await store.recording_page(view.id, after, settings.page_bytes)
                if page.bodies or time.monotonic() >= give_up:
                    return page
                if await request.is_disconnected():
                    return page
        finally:
            self._waiting -= 1


def _after(request: Request) -> PayloadKey | None:
    """The `after` cursor; empty: from the recording's start."""
    cursor = decode_cursor(request, int, int, name="after")
    return None if cursor is None else (cursor[0], cursor[1])
