"""Replay metrics: what one session's rrweb events say about its length, activity and clicks.

`replay_metrics(events)` reads a session's events (from all of its payloads, in replay order)
and derives the numbers a session list and a player need: when the recording starts and ends,
how long it is, how much of it a person was active (and which stretches a player may skip),
which pages were visited, how often the user clicked, where they rage-clicked, and a
100-bucket activity histogram.

The definitions follow Highlight's session processing (so that numbers mean the same for
teams moving over), except where Highlight had a bug; each is spelled out on the field or
constant it concerns. The function is pure: no I/O, and bad input never raises. An event
whose timestamp is not a finite number, or whose `data` does not decode into the narrow
structs of `rrweb`, is skipped for whatever needed that decoding.

Events may arrive slightly out of timestamp order (they come from several payloads), so
everything is computed over the events stably sorted by timestamp: events with equal
timestamps keep their replay order.

Like Highlight, IncrementalSnapshots before the first FullSnapshot are ignored for activity,
clicks and the histogram: a player cannot show them, since there is no DOM to apply them to.

Active time, as Highlight computed it, over [first FullSnapshot, last IncrementalSnapshot]:

1. The activity points are the user-interaction timestamps plus the first FullSnapshot's and
   the last IncrementalSnapshot's, sorted, duplicates dropped.
2. Each gap between consecutive points is active if at most `INACTIVE_GAP_MS` (10 s) long,
   else inactive; consecutive gaps of the same kind form one interval.
3. An inactive interval shorter than 2 % of the session length becomes active and merges
   with its neighbours.
4. If a single interval remains it is active, even when it is one long gap: a session whose
   only points are its first and last events counts as active throughout.
5. An active interval longer than `MAX_ACTIVE_INTERVAL_MS` (7 days) is reported inactive.

`active_ms` is the sum of the active intervals; `intervals` lets a player skip the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TypeVar

import msgspec

from footlight.processing.rrweb import (
    USER_INTERACTION_SOURCES,
    EventType,
    IncrementalSource,
    MouseInteraction,
    RrwebEvent,
    custom_data,
    incremental_data,
    meta_data,
)
from footlight.store.base import PageVisit

INACTIVE_GAP_MS = 10_000
"""A gap between two consecutive activity points longer than this is inactive (Highlight's
`MIN_INACTIVE_DURATION`); a gap of exactly 10 s is still active."""

MERGE_DIVISOR = 50
"""Inactive intervals shorter than 1/50 (2 %) of the session length count as active: short
pauses are not worth skipping in a long session."""

MAX_ACTIVE_INTERVAL_MS = 7 * 24 * 3600 * 1000
"""Active intervals longer than 7 days are left out of `active_ms` (and reported inactive):
no person is active for a week, so such an interval comes from broken clocks or a tab left
open with a mutating page."""

RAGE_CLICK_COUNT = 5
RAGE_CLICK_WINDOW_MS = 5_000
RAGE_CLICK_RADIUS_PX = 8.0

EVENT_COUNT_BUCKETS = 100

_CLICK_TYPES = frozenset({MouseInteraction.CLICK, MouseInteraction.DBL_CLICK})
# The SDK tags navigations in a single-page app `Navigate` and page reloads `Reload`, each
# with the URL as a JSON string payload. Exact tags, so that a user's own custom event whose
# tag merely contains the word is not taken for a page.
_NAVIGATION_TAGS = frozenset({"Navigate", "Reload"})

_T = TypeVar("_T")
_decode_string = msgspec.json.Decoder(str).decode


@dataclass(frozen=True)
class Interval:
    """A stretch of the session, in epoch ms; consecutive intervals share their boundary."""

    start: int
    end: int
    active: bool


@dataclass(frozen=True)
class RageClick:
    """One rage-click episode: a burst of clicks on one spot.

    Definition: Click and DblClick MouseInteractions (with a position, at or after the first
    FullSnapshot) are scanned in time order; each click not yet part of an episode is an
    anchor. Its candidates are the anchor itself and every later click not yet part of an
    episode that happened at most `RAGE_CLICK_WINDOW_MS` (5 s) after the anchor and at most
    `RAGE_CLICK_RADIUS_PX` (8 px, Euclidean) from the anchor's position, both bounds
    inclusive. If there are at least `RAGE_CLICK_COUNT` (5) candidates they form one
    episode, and its clicks are not used again; otherwise the scan moves on to the next click.

    Highlight's defaults are the same, but it used the click count (5) as the window in
    seconds by mistake; here the window is its own constant, which happens to be 5 s too.
    """

    start: int
    """Epoch ms of the episode's first click."""
    end: int
    """Epoch ms of its last click."""
    x: float
    """Position of the first click, in page pixels."""
    y: float
    count: int
    """How many clicks the episode holds (≥ `RAGE_CLICK_COUNT`)."""
    node_id: int | None
    """rrweb node id the first click landed on, when the SDK recorded it."""


@dataclass(frozen=True)
class ReplayMetrics:
    first_event_at: int | None
    """Epoch ms of the earliest event of any type."""
    last_event_at: int | None
    """Epoch ms of the latest event of any type."""
    first_full_snapshot_at: int | None
    """Epoch ms of the earliest FullSnapshot (type 2): where a replay can start."""
    last_incremental_at: int | None
    """Epoch ms of the latest IncrementalSnapshot (type 3). Custom events after it do not
    lengthen the session, as in Highlight."""
    length_ms: int
    """`last_incremental_at - first_full_snapshot_at`; 0 if either is missing or the
    difference is negative."""
    active_ms: int
    """Sum of the active `intervals`."""
    intervals: tuple[Interval, ...]
    """Active and inactive stretches covering [first FullSnapshot, last IncrementalSnapshot]
    without gaps or overlaps, alternating; empty when `length_ms` is 0."""
    pages: tuple[PageVisit, ...]
    """URLs shown by Meta events (`href`) and `Navigate`/`Reload` Custom events, in time
    order, a URL equal to the one just before it left out; each at the epoch ms of the event
    that showed it."""
    click_count: int
    """MouseInteraction events of type Click or DblClick. A browser fires two clicks before a
    dblclick, so a double click counts 3, as in Highlight."""
    rage_clicks: tuple[RageClick, ...]
    user_interaction_count: int
    """IncrementalSnapshots whose source is in `USER_INTERACTION_SOURCES`."""
    event_counts: tuple[int, ...]
    """`EVENT_COUNT_BUCKETS` equal buckets over [first FullSnapshot, last IncrementalSnapshot]
    counting user-interaction and Custom events (the last instant falls in the last bucket);
    empty when `length_ms` is 0."""


@dataclass(frozen=True)
class _Click:
    timestamp: int
    x: float
    y: float
    node_id: int | None


def replay_metrics(events: Sequence[RrwebEvent]) -> ReplayMetrics:
    """Derive a session's `ReplayMetrics` from all of its rrweb events."""
    timed = sorted(
        ((ms, event) for event in events if (ms := _epoch_ms(event.timestamp)) is not None),
        key=lambda pair: pair[0],
    )
    first_event_at = timed[0][0] if timed else None
    last_event_at = timed[-1][0] if timed else None
    first_full = next((t for t, e in timed if e.type == EventType.FULL_SNAPSHOT), None)
    last_incremental = next(
        (t for t, e in reversed(timed) if e.type == EventType.INCREMENTAL_SNAPSHOT), None
    )
    length = 0
    if first_full is not None and last_incremental is not None:
        length = max(0, last_incremental - first_full)

    interactions: list[int] = []
    clicks: list[_Click] = []
    click_count = 0
    if first_full is not None:
        for t, event in timed:
            if t < first_full or event.type != EventType.INCREMENTAL_SNAPSHOT:
                continue
            data = _decode(incremental_data, event.data)
            if data is None or data.source is None:
                continue
            if data.source in USER_INTERACTION_SOURCES:
                interactions.append(t)
            if data.source == IncrementalSource.MOUSE_INTERACTION and data.type in _CLICK_TYPES:
                click_count += 1
                # Clicks the SDK recorded without a position cannot be placed, so they take
                # no part in rage clicks.
                if data.x is not None and data.y is not None:
                    clicks.append(_Click(t, data.x, data.y, data.id))

    intervals: tuple[Interval, ...] = ()
    event_counts: tuple[int, ...] = ()
    if first_full is not None and last_incremental is not None and length > 0:
        intervals = _activity_intervals(first_full, last_incremental, interactions)
        customs = (
            t
            for t, e in timed
            if e.type == EventType.CUSTOM and first_full <= t <= last_incremental
        )
        event_counts = _histogram(first_full, length, [*interactions, *customs])

    pages = _pages(timed)
    return ReplayMetrics(
        first_event_at=first_event_at,
        last_event_at=last_event_at,
        first_full_snapshot_at=first_full,
        last_incremental_at=last_incremental,
        length_ms=length,
        active_ms=sum(i.end - i.start for i in intervals if i.active),
        intervals=intervals,
        pages=pages,
        click_count=click_count,
        rage_clicks=_rage_clicks(clicks),
        user_interaction_count=len(interactions),
        event_counts=event_counts,
    )


def _activity_intervals(start: int, end: int, interactions: Iterable[int]) -> tuple[Interval, ...]:
    """Active and inactive intervals over [start, end], start < end (see the module docstring)."""
    points = sorted({start, end, *interactions})
    runs = _coalesce(Interval(a, b, b - a <= INACTIVE_GAP_MS) for a, b in pairwise(points))
    length = end - start
    merged = _coalesce(
        Interval(i.start, i.end, i.active or (i.end - i.start) * MERGE_DIVISOR < length)
        for i in runs
    )
    if len(merged) == 1:
        merged = [Interval(start, end, True)]
    return tuple(
        _coalesce(
            Interval(i.start, i.end, i.active and i.end - i.start <= MAX_ACTIVE_INTERVAL_MS)
            for i in merged
        )
    )


def _coalesce(intervals: Iterable[Interval]) -> list[Interval]:
    """Join adjacent intervals of the same kind."""
    out: list[Interval] = []
    for interval in intervals:
        if out and out[-1].active == interval.active:
            out[-1] = Interval(out[-1].start, interval.end, interval.active)
        else:
            out.append(interval)
    return out


def _histogram(start: int, length: int, timestamps: Iterable[int]) -> tuple[int, ...]:
    counts = [0] * EVENT_COUNT_BUCKETS
    for t in timestamps:
        # Integer arithmetic, so bucket edges are exact; the end instant itself would be
        # bucket 100, and belongs to the last one.
        counts[min(EVENT_COUNT_BUCKETS - 1, (t - start) * EVENT_COUNT_BUCKETS // length)] += 1
    return tuple(counts)


def _rage_clicks(clicks: Sequence[_Click]) -> tuple[RageClick, ...]:
    """Rage-click episodes among clicks sorted by time, as defined on `RageClick`."""
    unused = _ClickGrid(clicks)
    episodes: list[RageClick] = []
    for i, anchor in enumerate(clicks):
        if not unused.take(i):
            continue
        members = unused.near(anchor)
        if len(members) + 1 < RAGE_CLICK_COUNT:
            continue
        for j in members:
            unused.take(j)
        episodes.append(
            RageClick(
                start=anchor.timestamp,
                end=max(clicks[j].timestamp for j in members),
                x=anchor.x,
                y=anchor.y,
                count=len(members) + 1,
                node_id=anchor.node_id,
            )
        )
    return tuple(episodes)


_Cell = tuple[int, int]
_END = -1


class _ClickGrid:
    """The clicks not yet taken, in time order per square cell as wide as the rage radius.

    A click within the radius of another lies in the same or a neighbouring cell, so
    looking for an anchor's candidates visits nine short lists, not every click of the
    window: with thousands of clicks at one moment, far apart, that is the difference
    between linear and quadratic. The lists are linked through the click indices so that
    taking a click out of the middle of one costs O(1).
    """

    def __init__(self, clicks: Sequence[_Click]) -> None:
        self._clicks = clicks
        self._cells = [_cell(click) for click in clicks]
        self._first: dict[_Cell, int] = {}
        self._next = [_END] * len(clicks)
        self._prev = [_END] * len(clicks)
        last: dict[_Cell, int] = {}
        for i, cell in enumerate(self._cells):
            if cell is None:
                continue
            if cell in last:
                self._next[last[cell]] = i
                self._prev[i] = last[cell]
            else:
                self._first[cell] = i
            last[cell] = i

    def take(self, i: int) -> bool:
        """Take click `i` out of the grid; False if it was not there."""
        cell = self._cells[i]
        if cell is None:
            return False
        self._cells[i] = None
        before, after = self._prev[i], self._next[i]
        if before == _END:
            if after == _END:
                del self._first[cell]
            else:
                self._first[cell] = after
        else:
            self._next[before] = after
        if after != _END:
            self._prev[after] = before
        return True

    def near(self, anchor: _Click) -> list[int]:
        """The clicks left in the grid within the window and radius of `anchor`.

        The clicks before the anchor's turn have all been taken, so whatever is left
        happened at or after it.
        """
        found: list[int] = []
        home = _cell(anchor)
        if home is None:
            return found
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                j = self._first.get((home[0] + dx, home[1] + dy), _END)
                while j != _END:
                    other = self._clicks[j]
                    if other.timestamp - anchor.timestamp > RAGE_CLICK_WINDOW_MS:
                        break
                    if math.hypot(other.x - anchor.x, other.y - anchor.y) <= RAGE_CLICK_RADIUS_PX:
                        found.append(j)
                    j = self._next[j]
        return found


def _cell(click: _Click) -> _Cell | None:
    # A position that is not finite is within no radius of anything.
    if not (math.isfinite(click.x) and math.isfinite(click.y)):
        return None
    return math.floor(click.x / RAGE_CLICK_RADIUS_PX), math.floor(click.y / RAGE_CLICK_RADIUS_PX)


def _pages(timed: Sequence[tuple[int, RrwebEvent]]) -> tuple[PageVisit, ...]:
    pages: list[PageVisit] = []
    for t, event in timed:
        url: str | None = None
        if event.type == EventType.META:
            meta = _decode(meta_data, event.data)
            url = meta.href if meta is not None else None
        elif event.type == EventType.CUSTOM:
            custom = _decode(custom_data, event.data)
            if custom is not None and custom.tag in _NAVIGATION_TAGS:
                url = _decode(_decode_string, custom.payload)
        # A reload and the Meta event after it repeat the URL already shown: one visit.
        if url and (not pages or pages[-1].url != url):
            pages.append(PageVisit(t, url))
    return tuple(pages)


def _decode(decoder: Callable[[msgspec.Raw], _T], raw: msgspec.Raw) -> _T | None:
    """Decode `raw`, or None when it is not valid JSON of the expected shape."""
    try:
        return decoder(raw)
    except (msgspec.DecodeError, RecursionError):
        # msgspec raises RecursionError (not DecodeError) on absurdly deep nesting, even
        # inside fields the narrow structs skip.
        return None


def _epoch_ms(timestamp: float) -> int | None:
    # A hand-built event may carry NaN or infinity; nothing can be placed at such a time.
    return round(timestamp) if math.isfinite(timestamp) else None
