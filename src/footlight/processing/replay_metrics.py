"""Replay metrics: what one session's rrweb events say about its length, activity and clicks.

(Long because each metric's definition, and where it departs from Highlight's, is written out
next to the code that computes it; the rage-click grid is its own small section below.)

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

Memory. Processing feeds events to a `ReplayAccumulator` one payload at a time, so a session
is never in memory whole: the accumulator keeps only the few numbers each event contributes
(a timestamp per user interaction and Custom event, timestamp and position per click, a URL
per page shown) in compact arrays, at most `max_activity_events` of the first three (in
replay order; the rest are counted in `activity_events_not_analysed`) and at most
`max_pages` page facts. `replay_metrics(events)` is the same over a list.
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar, overload

import msgspec

from footlight.core.rrweb import (
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
# The kinds `ReplayAccumulator.add` tells apart, as ints: it runs for every event, and reading
# an enum's member costs more than comparing with it.
_FULL_SNAPSHOT = int(EventType.FULL_SNAPSHOT)
_INCREMENTAL_SNAPSHOT = int(EventType.INCREMENTAL_SNAPSHOT)
_META = int(EventType.META)
_CUSTOM = int(EventType.CUSTOM)
_MOUSE_INTERACTION = int(IncrementalSource.MOUSE_INTERACTION)
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


def replay_metrics(events: Iterable[RrwebEvent]) -> ReplayMetrics:
    """Derive a session's `ReplayMetrics` from all of its rrweb events."""
    accumulator = ReplayAccumulator()
    for event in events:
        accumulator.add(event)
    return accumulator.result()


PageFilter = Callable[[str], str | None]
"""What becomes of a page's URL before it is kept: the URL to keep, or None to keep none."""


_STR_BYTES = 57
"""What a str costs beyond its characters (CPython, ASCII)."""


class _Stamps:
    """Timestamps, kept in the order they arrive and read in time order.

    A live session's summary is taken again after every few of its payloads, so `result`
    must not filter and sort every timestamp so far in Python each time: they are sorted
    (in C) only when one arrived out of order since the last read, and read as a slice
    found by bisection.
    """

    __slots__ = ("_sorted", "_values")

    def __init__(self) -> None:
        self._values = array("q")
        self._sorted = True

    def __len__(self) -> int:
        return len(self._values)

    @property
    def weight(self) -> int:
        """Bytes held, about."""
        return len(self._values) * self._values.itemsize

    def append(self, t: int) -> None:
        if self._sorted and self._values and t < self._values[-1]:
            self._sorted = False
        self._values.append(t)

    def between(self, start: int, end: int | None = None) -> array[int]:
        """The timestamps from `start` through `end` (or the last), in time order."""
        if not self._sorted:
            self._values = array("q", sorted(self._values))
            self._sorted = True
        values = self._values
        stop = len(values) if end is None else bisect.bisect_right(values, end)
        return values[bisect.bisect_left(values, start) : stop]


class ReplayAccumulator:
    """`replay_metrics`, fed one event at a time (see "Memory" in the module docstring).

    Events are added in replay order; ties in time keep that order, as a stable sort of all
    of them would.
    """

    def __init__(
        self,
        *,
        max_activity_events: int | None = None,
        max_pages: int | None = None,
        keep_page: PageFilter | None = None,
    ) -> None:
        self._max_activity = max_activity_events
        self._max_pages = max_pages
        self._keep_page = keep_page
        self.event_count = 0
        self.activity_events_not_analysed = 0
        self.pages_not_kept = 0
        self._first: int | None = None
        self._last: int | None = None
        self._first_full: int | None = None
        self._last_incremental: int | None = None
        self._interactions = _Stamps()
        self._customs = _Stamps()
        self._click_times = array("q")
        self._activity_kept = 0
        """Facts in the three above: counted as they are added (checked for every event)."""
        self._click_x = array("d")
        self._click_y = array("d")
        self._click_nodes: list[int | None] = []
        self._click_placed = bytearray()
        self._page_times = array("q")
        self._page_urls: list[str] = []
        self._page_url_bytes = 0
        """What `_page_urls` holds, about (counted as they come: `weight` is read after
        every live run)."""

    @property
    def weight(self) -> int:
        """Bytes held, about: what keeping this accumulator between live runs costs."""
        clicks = len(self._click_times)
        return (
            self._interactions.weight
            + self._customs.weight
            + clicks * (8 + 8 + 8 + 8 + 1)  # time, x, y, the node's list slot, placed
            + len(self._page_times) * 8
            + self._page_url_bytes
        )

    def _room(self) -> bool:
        if self._max_activity is not None and self._activity_kept >= self._max_activity:
            self.activity_events_not_analysed += 1
            return False
        return True

    def add(self, event: RrwebEvent) -> None:
        # Called for every event of every payload (live and finished runs alike): the
        # event kinds are plain ints here, not the enum's members, and the time is rounded
        # in place.
        self.event_count += 1
        timestamp = event.timestamp
        if not math.isfinite(timestamp):
            return  # a hand-built event may carry NaN or infinity: it has no place in time
        t = round(timestamp)
        if self._first is None or t < self._first:
            self._first = t
        if self._last is None or t > self._last:
            self._last = t
        kind = event.type
        if kind == _INCREMENTAL_SNAPSHOT:
            if self._last_incremental is None or t > self._last_incremental:
                self._last_incremental = t
            self._add_incremental(t, event.data)
        elif kind == _CUSTOM:
            if self._room():
                self._customs.append(t)
                self._activity_kept += 1
            custom = _decode(custom_data, event.data)
            if custom is not None and custom.tag in _NAVIGATION_TAGS:
                self._add_page(t, _decode(_decode_string, custom.payload))
        elif kind == _FULL_SNAPSHOT:
            if self._first_full is None or t < self._first_full:
                self._first_full = t
        elif kind == _META:
            meta = _decode(meta_data, event.data)
            self._add_page(t, meta.href if meta is not None else None)

    def _add_incremental(self, t: int, raw: msgspec.Raw) -> None:
        # Whether it counts depends on the first FullSnapshot, which a later payload may
        # still bring: the facts are kept now and filtered in `result`.
        data = _decode(incremental_data, raw)
        if data is None or data.source is None:
            return
        interaction = data.source in USER_INTERACTION_SOURCES
        click = data.source == _MOUSE_INTERACTION and data.type in _CLICK_TYPES
        if not (interaction or click) or not self._room():
            return
        if interaction:
            self._interactions.append(t)
            self._activity_kept += 1
        if click:
            self._activity_kept += 1
            placed = data.x is not None and data.y is not None
            self._click_times.append(t)
            self._click_x.append(data.x if data.x is not None else 0.0)
            self._click_y.append(data.y if data.y is not None else 0.0)
            self._click_nodes.append(data.id)
            self._click_placed.append(placed)

    def _add_page(self, t: int, url: str | None) -> None:
        if not url:
            return
        if self._max_pages is not None and len(self._page_urls) >= self._max_pages:
            self.pages_not_kept += 1
            return
        kept = self._keep_page(url) if self._keep_page is not None else url
        if kept is None:
            self.pages_not_kept += 1
            return
        self._page_times.append(t)
        self._page_urls.append(kept)
        self._page_url_bytes += len(kept) + _STR_BYTES

    def result(self) -> ReplayMetrics:
        first_full, last_incremental = self._first_full, self._last_incremental
        length = 0
        if first_full is not None and last_incremental is not None:
            length = max(0, last_incremental - first_full)

        # IncrementalSnapshots before the first FullSnapshot cannot be shown: left out.
        interactions = array("q")
        clicks: Sequence[_Click] = ()
        click_count = 0
        if first_full is not None:
            interactions = self._interactions.between(first_full)
            order = sorted(
                (i for i, t in enumerate(self._click_times) if t >= first_full),
                key=self._click_times.__getitem__,
            )
            click_count = len(order)
            clicks = _Clicks(
                self._click_times,
                self._click_x,
                self._click_y,
                self._click_nodes,
                [i for i in order if self._click_placed[i]],
            )

        intervals: tuple[Interval, ...] = ()
        event_counts: tuple[int, ...] = ()
        if first_full is not None and last_incremental is not None and length > 0:
            intervals = _activity_intervals(first_full, last_incremental, interactions)
            customs = self._customs.between(first_full, last_incremental)
            event_counts = _histogram(first_full, length, interactions, customs)

        return ReplayMetrics(
            first_event_at=self._first,
            last_event_at=self._last,
            first_full_snapshot_at=first_full,
            last_incremental_at=last_incremental,
            length_ms=length,
            active_ms=sum(i.end - i.start for i in intervals if i.active),
            intervals=intervals,
            pages=self._pages(),
            click_count=click_count,
            rage_clicks=_rage_clicks(clicks),
            user_interaction_count=len(interactions),
            event_counts=event_counts,
        )

    def _pages(self) -> tuple[PageVisit, ...]:
        pages: list[PageVisit] = []
        order = sorted(range(len(self._page_times)), key=self._page_times.__getitem__)
        for i in order:
            url = self._page_urls[i]
            # A reload and the Meta event after it repeat the URL already shown: one visit.
            if not pages or pages[-1].url != url:
                pages.append(PageVisit(self._page_times[i], url))
        return tuple(pages)


class _Clicks(Sequence["_Click"]):
    """Placed clicks in time order, read from the accumulator's arrays as they are needed."""

    def __init__(
        self,
        times: array[int],
        xs: array[float],
        ys: array[float],
        nodes: list[int | None],
        order: list[int],
    ) -> None:
        self._times, self._xs, self._ys, self._nodes, self._order = times, xs, ys, nodes, order

    def __len__(self) -> int:
        return len(self._order)

    @overload
    def __getitem__(self, index: int) -> _Click: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[_Click]: ...

    def __getitem__(self, index: int | slice) -> _Click | Sequence[_Click]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = self._order[index]
        return _Click(self._times[i], self._xs[i], self._ys[i], self._nodes[i])


def _activity_intervals(start: int, end: int, interactions: array[int]) -> tuple[Interval, ...]:
    """Active and inactive intervals over [start, end], start < end, from the interactions
    within it in time order (see the module docstring)."""
    # Steps 1 and 2 in C: the places of the gaps longer than INACTIVE_GAP_MS, which are few;
    # the active runs lie between them. A repeated point is a gap of 0: it is inside an
    # active run, or is one of length 0, left out. (Built in Python, an Interval per gap,
    # this took ~40 ms for a 30-minute session's 36,000 interactions, and a live session's
    # summary is built after every few of its payloads.)
    points = array("q", (start,)) + interactions + array("q", (end,))
    gaps = map(operator.sub, itertools.islice(points, 1, None), points)
    long_gaps = itertools.compress(itertools.count(), map(INACTIVE_GAP_MS.__lt__, gaps))
    runs: list[Interval] = []
    run_start = 0  # where the current active run starts, as an index of `points`
    for i in long_gaps:
        if points[i] > points[run_start]:
            runs.append(Interval(points[run_start], points[i], True))
        if runs and not runs[-1].active:  # inactive gaps back to back: one interval
            runs[-1] = Interval(runs[-1].start, points[i + 1], False)
        else:
            runs.append(Interval(points[i], points[i + 1], False))
        run_start = i + 1
    if points[-1] > points[run_start]:
        runs.append(Interval(points[run_start], points[-1], True))
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


def _histogram(start: int, length: int, *ordered: Sequence[int]) -> tuple[int, ...]:
    """Timestamps in [start, start + length] per bucket, from sequences each in time order
    (counted by bisecting them at the bucket edges)."""
    # Integer arithmetic, so bucket edges are exact: t is in bucket b or a later one when
    # (t - start) * BUCKETS // length >= b, that is t >= start + ceil(b * length / BUCKETS).
    # The end instant itself would be bucket BUCKETS, and belongs to the last one.
    counts = [0] * EVENT_COUNT_BUCKETS
    for stamps in ordered:
        edges = [
            bisect.bisect_left(stamps, start + -(-b * length // EVENT_COUNT_BUCKETS))
            for b in range(EVENT_COUNT_BUCKETS)
        ]
        edges.append(len(stamps))
        for b in range(EVENT_COUNT_BUCKETS):
            counts[b] += edges[b + 1] - edges[b]
    return tuple(counts)


def _rage_clicks(clicks: Sequence[_Click]) -> tuple[RageClick, ...]:
    """Rage-click episodes among clicks sorted by time, as defined on `RageClick`."""
    unused = _ClickGrid(clicks)
    episodes: list[RageClick] = []
    added = 0
    for i, anchor in enumerate(clicks):
        # Only the clicks that can still join an episode are in the grid: up to the end of
        # this anchor's window (the ones before it have all been taken).
        while added < len(clicks) and clicks[added].timestamp - anchor.timestamp <= (
            RAGE_CLICK_WINDOW_MS
        ):
            unused.add(added)
            added += 1
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
    taking a click out of the middle of one costs O(1). Clicks are added as the scan reaches
    their time, and leave when taken, so the grid holds one window's clicks, not a session's.
    """

    def __init__(self, clicks: Sequence[_Click]) -> None:
        self._clicks = clicks
        self._cells: dict[int, _Cell] = {}
        self._first: dict[_Cell, int] = {}
        self._last: dict[_Cell, int] = {}
        self._next: dict[int, int] = {}
        self._prev: dict[int, int] = {}

    def add(self, i: int) -> None:
        """Add click `i`, the latest so far in time order."""
        cell = _cell(self._clicks[i])
        if cell is None:
            return
        self._cells[i] = cell
        last = self._last.get(cell, _END)
        if last == _END:
            self._first[cell] = i
        else:
            self._next[last] = i
        self._prev[i] = last
        self._next[i] = _END
        self._last[cell] = i

    def take(self, i: int) -> bool:
        """Take click `i` out of the grid; False if it was not there."""
        cell = self._cells.pop(i, None)
        if cell is None:
            return False
        before, after = self._prev.pop(i), self._next.pop(i)
        if before == _END:
            if after == _END:
                del self._first[cell]
                del self._last[cell]
            else:
                self._first[cell] = after
        else:
            self._next[before] = after
        if after == _END:
            if before != _END:
                self._last[cell] = before
        else:
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


def _decode(decoder: Callable[[msgspec.Raw], _T], raw: msgspec.Raw) -> _T | None:
    """Decode `raw`, or None when it is not valid JSON of the expected shape."""
    try:
        return decoder(raw)
    except (msgspec.DecodeError, RecursionError):
        # msgspec raises RecursionError (not DecodeError) on absurdly deep nesting, even
        # inside fields the narrow structs skip.
        return None
