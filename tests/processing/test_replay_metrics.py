"""Replay metrics over hand-built rrweb events, each expected number derived by hand.

Proven here:

* timestamps: first/last event over everything, length from the first FullSnapshot to the
  last IncrementalSnapshot (Custom events do not lengthen it), out-of-order input sorted;
* active time: gaps ≤ 10 s active, longer inactive; the 2 % merge rule and its exact
  boundary; a single interval is active; a week-long interval is not counted;
* clicks: Click and DblClick counted, other mouse interactions not; rage clicks at and
  below the count, radius and window thresholds, separate episodes, no click used twice;
  the same episodes as the definition read literally, also for 100,000 clicks at once;
* pages from Meta and Navigate/Reload, consecutive duplicates collapsed;
* the 100-bucket histogram;
* malformed events are skipped and never raise;
* `max_activity_events` bounds the activity facts of every kind together (a click is two).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import msgspec
import pytest

from footlight.core.rrweb import RrwebEvent
from footlight.processing.replay_metrics import (
    _STR_BYTES,
    RAGE_CLICK_COUNT,
    RAGE_CLICK_RADIUS_PX,
    RAGE_CLICK_WINDOW_MS,
    Interval,
    RageClick,
    ReplayAccumulator,
    ReplayMetrics,
    _coalesce,
    replay_metrics,
)
from footlight.store.base import PageVisit

T0 = 1_700_000_000_000
DAY_MS = 24 * 3600 * 1000


def event(type_: int, timestamp: int, data: Any) -> RrwebEvent:
    """An event as processing receives it: decoded by msgspec from JSON bytes."""
    raw = msgspec.json.encode({"type": type_, "timestamp": timestamp, "data": data})
    return msgspec.json.decode(raw, type=RrwebEvent)


def raw_event(type_: int, timestamp: int, data_json: bytes) -> RrwebEvent:
    raw = b'{"type":%d,"timestamp":%d,"data":%s}' % (type_, timestamp, data_json)
    return msgspec.json.decode(raw, type=RrwebEvent)


def meta(t: int, href: str) -> RrwebEvent:
    return event(4, t, {"href": href, "width": 1280, "height": 720})


def full_snapshot(t: int) -> RrwebEvent:
    node = {"type": 0, "childNodes": [], "id": 1}
    return event(2, t, {"node": node, "initialOffset": {"left": 0, "top": 0}})


def mouse_move(t: int) -> RrwebEvent:
    return event(3, t, {"source": 1, "positions": [{"x": 10, "y": 20, "id": 5, "timeOffset": 0}]})


def mouse_interaction(
    t: int, kind: int, x: float = 100, y: float = 100, node: int = 7
) -> RrwebEvent:
    return event(3, t, {"source": 2, "type": kind, "id": node, "x": x, "y": y})


def click(t: int, x: float = 100, y: float = 100, node: int = 7) -> RrwebEvent:
    return mouse_interaction(t, 2, x, y, node)


def text_input(t: int) -> RrwebEvent:
    return event(3, t, {"source": 5, "text": "hello", "isChecked": False, "id": 9})


def mutation(t: int) -> RrwebEvent:
    return event(3, t, {"source": 0, "texts": [], "attributes": [], "removes": [], "adds": []})


def custom(t: int, tag: str, payload: Any) -> RrwebEvent:
    return event(5, t, {"tag": tag, "payload": payload})


def moves(start: int, stop: int, step: int) -> list[RrwebEvent]:
    """Mouse moves at T0+start, T0+start+step, ... up to T0+stop inclusive."""
    return [mouse_move(T0 + t) for t in range(start, stop + 1, step)]


# --- timestamps and length -------------------------------------------------------------


def test_no_events() -> None:
    assert replay_metrics([]) == ReplayMetrics(
        first_event_at=None,
        last_event_at=None,
        first_full_snapshot_at=None,
        last_incremental_at=None,
        length_ms=0,
        active_ms=0,
        intervals=(),
        pages=(),
        click_count=0,
        rage_clicks=(),
        user_interaction_count=0,
        event_counts=(),
    )


def test_no_full_snapshot_has_no_length_and_ignores_interactions() -> None:
    # Without a FullSnapshot nothing can be replayed: incremental events are ignored for
    # activity and clicks, but the Meta still names the page.
    m = replay_metrics([meta(T0, "https://a.example/"), click(T0 + 10), mouse_move(T0 + 20)])
    assert m.first_event_at == T0
    assert m.last_event_at == T0 + 20
    assert m.first_full_snapshot_at is None
    assert m.last_incremental_at == T0 + 20
    assert (m.length_ms, m.active_ms, m.intervals, m.event_counts) == (0, 0, (), ())
    assert (m.click_count, m.user_interaction_count, m.rage_clicks) == (0, 0, ())
    assert m.pages == (PageVisit(T0, "https://a.example/"),)


def test_length_runs_from_first_full_snapshot_to_last_incremental_out_of_order() -> None:
    # Given out of timestamp order, as when payloads interleave. The Custom event at
    # +9000 is the last event but does not lengthen the session: length = 7000 - 1000.
    events = [
        meta(T0, "https://a.example/"),
        mouse_move(T0 + 3000),
        full_snapshot(T0 + 1000),
        custom(T0 + 9000, "Track", '{"event":"x"}'),
        mutation(T0 + 7000),
        full_snapshot(T0 + 5000),
        mouse_move(T0 + 2000),
    ]
    m = replay_metrics(events)
    assert m.first_event_at == T0
    assert m.last_event_at == T0 + 9000
    assert m.first_full_snapshot_at == T0 + 1000
    assert m.last_incremental_at == T0 + 7000
    assert m.length_ms == 6000
    # Points 1000, 2000, 3000, 7000: gaps 1000, 1000, 4000, all ≤ 10 s.
    assert m.active_ms == 6000
    assert m.intervals == (Interval(T0 + 1000, T0 + 7000, True),)


def test_incremental_before_first_full_snapshot_is_ignored() -> None:
    m = replay_metrics([click(T0 - 500), mouse_move(T0 - 400), full_snapshot(T0)])
    assert m.first_full_snapshot_at == T0
    assert m.last_incremental_at == T0 - 400
    assert m.length_ms == 0  # negative difference
    assert (m.click_count, m.user_interaction_count, m.active_ms) == (0, 0, 0)


def test_full_snapshot_without_incremental_has_no_length() -> None:
    m = replay_metrics([meta(T0, "https://a.example/"), full_snapshot(T0 + 1)])
    assert m.last_incremental_at is None
    assert (m.length_ms, m.active_ms, m.intervals, m.event_counts) == (0, 0, (), ())


# --- active time ---------------------------------------------------------------------


def test_five_second_gap_is_active() -> None:
    # Points 0, 1000, 6000, 7000: gaps 1000, 5000, 1000.
    m = replay_metrics(
        [full_snapshot(T0), mouse_move(T0 + 1000), mouse_move(T0 + 6000), mutation(T0 + 7000)]
    )
    assert m.length_ms == 7000
    assert m.active_ms == 7000
    assert m.intervals == (Interval(T0, T0 + 7000, True),)


def test_thirty_second_gap_is_inactive() -> None:
    # Points 0, 1000, 2000, 32000, 33000. Length 33000, 2 % of it = 660 ms, so the 30 s
    # gap stays inactive: active = 2000 + 1000.
    events = [
        full_snapshot(T0),
        mouse_move(T0 + 1000),
        text_input(T0 + 2000),
        mouse_move(T0 + 32_000),
        mutation(T0 + 33_000),
    ]
    m = replay_metrics(events)
    assert m.length_ms == 33_000
    assert m.active_ms == 3000
    assert m.intervals == (
        Interval(T0, T0 + 2000, True),
        Interval(T0 + 2000, T0 + 32_000, False),
        Interval(T0 + 32_000, T0 + 33_000, True),
    )


def test_ten_second_gap_is_active_and_one_ms_more_is_not() -> None:
    # Points 0, 1000, 11000 (gap 10000: active), 21001 (gap 10001: inactive), 22000.
    # Length 22000, 2 % = 440 ms. Active = 11000 + 999.
    events = [
        full_snapshot(T0),
        mouse_move(T0 + 1000),
        mouse_move(T0 + 11_000),
        mouse_move(T0 + 21_001),
        mutation(T0 + 22_000),
    ]
    m = replay_metrics(events)
    assert m.active_ms == 11_999
    assert m.intervals == (
        Interval(T0, T0 + 11_000, True),
        Interval(T0 + 11_000, T0 + 21_001, False),
        Interval(T0 + 21_001, T0 + 22_000, True),
    )


def test_short_idle_gap_in_long_session_is_merged() -> None:
    # One hour (3_600_000 ms) of moves every 5 s with one 11 s pause (100_000 → 111_000).
    # 2 % of an hour is 72_000 ms > 11_000, so the pause merges: the hour is all active.
    events = [
        full_snapshot(T0),
        *moves(5000, 100_000, 5000),
        *moves(111_000, 3_596_000, 5000),
        mouse_move(T0 + 3_600_000),
    ]
    m = replay_metrics(events)
    assert m.length_ms == 3_600_000
    assert m.active_ms == 3_600_000
    assert m.intervals == (Interval(T0, T0 + 3_600_000, True),)


def test_long_idle_gap_in_long_session_stays_inactive() -> None:
    # Same hour with a 100 s pause (100_000 → 200_000): 100_000 ≥ 72_000, not merged.
    events = [full_snapshot(T0), *moves(5000, 100_000, 5000), *moves(200_000, 3_600_000, 5000)]
    m = replay_metrics(events)
    assert m.active_ms == 3_500_000
    assert m.intervals == (
        Interval(T0, T0 + 100_000, True),
        Interval(T0 + 100_000, T0 + 200_000, False),
        Interval(T0 + 200_000, T0 + 3_600_000, True),
    )


def test_merge_threshold_is_strictly_less_than_two_percent() -> None:
    # Length 1_000_000: 2 % is exactly 20_000 ms. A 20_000 ms pause is not shorter than
    # that and stays inactive; a 19_999 ms pause merges.
    exact = [full_snapshot(T0), *moves(5000, 500_000, 5000), *moves(520_000, 1_000_000, 5000)]
    m = replay_metrics(exact)
    assert m.length_ms == 1_000_000
    assert m.active_ms == 980_000
    assert m.intervals[1] == Interval(T0 + 500_000, T0 + 520_000, False)

    below = [
        full_snapshot(T0),
        *moves(5000, 500_000, 5000),
        *moves(519_999, 999_999, 5000),
        mouse_move(T0 + 1_000_000),
    ]
    m = replay_metrics(below)
    assert m.length_ms == 1_000_000
    assert m.active_ms == 1_000_000
    assert m.intervals == (Interval(T0, T0 + 1_000_000, True),)


def test_single_interval_is_active() -> None:
    # No interaction: the only points are the snapshot and the last mutation, 30 s apart,
    # one inactive gap → a single interval, which counts as active.
    m = replay_metrics([full_snapshot(T0), mouse_move(T0), mutation(T0 + 30_000)])
    assert m.active_ms == 30_000
    assert m.intervals == (Interval(T0, T0 + 30_000, True),)


def test_active_interval_longer_than_seven_days_is_not_counted() -> None:
    # A single interval of 8 days is made active, then left out for exceeding 7 days.
    m = replay_metrics([full_snapshot(T0), mutation(T0 + 8 * DAY_MS)])
    assert m.length_ms == 8 * DAY_MS
    assert m.active_ms == 0
    assert m.intervals == (Interval(T0, T0 + 8 * DAY_MS, False),)


def test_user_interaction_count_and_sources() -> None:
    # Interactions: move, click, scroll (3), input, touch move (6), drag (12) = 6.
    # Not: mutation (0), viewport resize (4), media (7), style sheet (8), font (10).
    events = [
        full_snapshot(T0),
        mouse_move(T0 + 1),
        click(T0 + 2),
        event(3, T0 + 3, {"source": 3, "id": 1, "x": 0, "y": 50}),
        text_input(T0 + 4),
        event(3, T0 + 5, {"source": 6, "positions": []}),
        event(3, T0 + 6, {"source": 12, "positions": []}),
        mutation(T0 + 7),
        event(3, T0 + 8, {"source": 4, "width": 800, "height": 600}),
        event(3, T0 + 9, {"source": 7, "type": 0, "id": 3}),
        event(3, T0 + 10, {"source": 8, "id": 3, "adds": []}),
        event(3, T0 + 11, {"source": 10, "family": "x"}),
    ]
    assert replay_metrics(events).user_interaction_count == 6


# --- clicks --------------------------------------------------------------------------


def test_click_count_counts_click_and_dblclick_only() -> None:
    # Types: mouseup 0, mousedown 1, click 2, contextmenu 3, dblclick 4, focus 5, blur 6,
    # touchstart 7, touchend 9. Only 2 and 4 are clicks; the positions are far apart, so
    # there is no rage click either.
    kinds = [0, 1, 2, 3, 4, 5, 6, 7, 9, 2]
    events = [full_snapshot(T0)] + [
        mouse_interaction(T0 + 100 * i, kind, x=100 * i) for i, kind in enumerate(kinds)
    ]
    m = replay_metrics(events)
    assert m.click_count == 3
    assert m.user_interaction_count == 10
    assert m.rage_clicks == ()


def test_five_clicks_within_radius_and_window_are_a_rage_click() -> None:
    # Offsets from (100, 100): 0, 1, 2, 5 (3-4-5 triangle) and 8 px; times 0..4000.
    positions = [(100, 100), (101, 100), (100, 102), (103, 104), (100, 108)]
    events = [full_snapshot(T0)] + [
        click(T0 + 1000 * i, x, y) for i, (x, y) in enumerate(positions)
    ]
    m = replay_metrics(events)
    assert m.click_count == 5
    assert m.rage_clicks == (RageClick(start=T0, end=T0 + 4000, x=100, y=100, count=5, node_id=7),)


def test_four_clicks_are_not_a_rage_click() -> None:
    events = [full_snapshot(T0)] + [click(T0 + 100 * i) for i in range(4)]
    m = replay_metrics(events)
    assert m.click_count == 4
    assert m.rage_clicks == ()


def test_clicks_spread_over_nine_pixels_are_not_a_rage_click() -> None:
    # The fifth click is 9 px from the first, leaving 4 within 8 px.
    positions = [(100, 100), (101, 100), (102, 100), (104, 100), (109, 100)]
    events = [full_snapshot(T0)] + [click(T0 + 100 * i, x, y) for i, (x, y) in enumerate(positions)]
    assert replay_metrics(events).rage_clicks == ()
    # (106, 106) is 8.49 px away: also outside.
    positions[-1] = (106, 106)
    events = [full_snapshot(T0)] + [click(T0 + 100 * i, x, y) for i, (x, y) in enumerate(positions)]
    assert replay_metrics(events).rage_clicks == ()


def test_rage_click_window_is_five_seconds_inclusive() -> None:
    # Step 1250: the fifth click lands exactly 5000 ms after the first, inside.
    inside = [full_snapshot(T0)] + [click(T0 + 1250 * i) for i in range(5)]
    assert replay_metrics(inside).rage_clicks == (
        RageClick(start=T0, end=T0 + 5000, x=100, y=100, count=5, node_id=7),
    )
    # Step 1251: the fifth click is at 5004 ms; each later anchor has even fewer.
    outside = [full_snapshot(T0)] + [click(T0 + 1251 * i) for i in range(5)]
    assert replay_metrics(outside).rage_clicks == ()


def test_two_separate_rage_click_episodes() -> None:
    first = [click(T0 + 200 * i, 100, 100, node=7) for i in range(5)]  # 0..800
    # A double click is a click too (two clicks then a dblclick in a browser).
    second = [click(T0 + 10_000 + 200 * i, 500, 300, node=8) for i in range(5)]
    second.append(mouse_interaction(T0 + 11_000, 4, 500, 300, node=8))
    m = replay_metrics([full_snapshot(T0), *first, *second])
    assert m.click_count == 11
    assert m.rage_clicks == (
        RageClick(start=T0, end=T0 + 800, x=100, y=100, count=5, node_id=7),
        RageClick(start=T0 + 10_000, end=T0 + 11_000, x=500, y=300, count=6, node_id=8),
    )


def test_clicks_in_one_rage_click_are_not_counted_again() -> None:
    # 12 clicks every 500 ms (0..5500). Anchor 0 takes the 11 clicks at 0..5000; the
    # click at 5500 is left alone. Without the rule, anchors 500, 1000, ... would each
    # make another episode out of the same clicks.
    events = [full_snapshot(T0)] + [click(T0 + 500 * i) for i in range(12)]
    assert replay_metrics(events).rage_clicks == (
        RageClick(start=T0, end=T0 + 5000, x=100, y=100, count=11, node_id=7),
    )


def test_a_far_click_inside_the_window_does_not_break_an_episode() -> None:
    # A click elsewhere in the middle is simply not a candidate.
    events = [full_snapshot(T0)] + [click(T0 + 100 * i) for i in range(3)]
    events += [click(T0 + 350, 900, 900)] + [click(T0 + 400 + 100 * i) for i in range(2)]
    m = replay_metrics(events)
    assert m.click_count == 6
    assert m.rage_clicks == (RageClick(start=T0, end=T0 + 500, x=100, y=100, count=5, node_id=7),)


@dataclass(frozen=True)
class _Click:
    t: int
    x: float
    y: float
    node: int


def _reference_rage_clicks(clicks: list[_Click]) -> tuple[RageClick, ...]:
    """`RageClick`'s definition, written out as directly (and as slowly) as it reads."""
    used = [False] * len(clicks)
    episodes = []
    for i, anchor in enumerate(clicks):
        if used[i]:
            continue
        members = [i] + [
            j
            for j in range(i + 1, len(clicks))
            if not used[j]
            and clicks[j].t - anchor.t <= RAGE_CLICK_WINDOW_MS
            and math.hypot(clicks[j].x - anchor.x, clicks[j].y - anchor.y) <= RAGE_CLICK_RADIUS_PX
        ]
        if len(members) >= RAGE_CLICK_COUNT:
            for j in members:
                used[j] = True
            end = clicks[members[-1]].t
            episodes.append(RageClick(anchor.t, end, anchor.x, anchor.y, len(members), anchor.node))
    return tuple(episodes)


@pytest.mark.parametrize("seed", range(20))
def test_rage_clicks_match_the_definition_on_random_clicks(seed: int) -> None:
    # Clicks crowded into a few dozen pixels and seconds, so that episodes, near misses,
    # cell borders (multiples of the radius) and ties in time all occur.
    rng = random.Random(seed)
    clicks = sorted(
        (
            _Click(
                T0 + rng.randrange(0, 20_000, 250),
                rng.choice([rng.uniform(0, 40), float(rng.randrange(0, 41, 8))]),
                rng.uniform(-20, 20),
                rng.randrange(5),
            )
            for _ in range(300)
        ),
        key=lambda c: c.t,
    )
    events = [full_snapshot(T0)] + [click(c.t, c.x, c.y, node=c.node) for c in clicks]
    expected = _reference_rage_clicks(clicks)
    assert len(expected) > 3
    assert replay_metrics(events).rage_clicks == expected


@pytest.mark.timeout(60)
def test_many_simultaneous_clicks_far_apart_are_handled_in_near_linear_time() -> None:
    # 100,000 clicks in one instant, 20 px apart: none near another. Every click is within
    # every other's window, so looking at the whole window for each took 22 s for 20,000.
    # Among them, 5 clicks on one spot: the one episode.
    t = T0 + 1000
    spread = [click(t, 20.0 * (i % 400), 20.0 * (i // 400), node=i) for i in range(100_000)]
    spot = [click(t, 10_001, 10_001, node=1) for _ in range(RAGE_CLICK_COUNT)]
    m = replay_metrics([full_snapshot(T0), *spread, *spot])
    assert m.click_count == 100_000 + RAGE_CLICK_COUNT
    assert m.rage_clicks == (
        RageClick(start=t, end=t, x=10_001, y=10_001, count=RAGE_CLICK_COUNT, node_id=1),
    )


# --- pages ---------------------------------------------------------------------------


def test_pages_from_meta_and_navigation_with_duplicates_collapsed() -> None:
    events = [
        meta(T0, "https://shop.example/"),
        full_snapshot(T0 + 1),
        custom(T0 + 100, "Navigate", "https://shop.example/"),  # same as the Meta
        custom(T0 + 200, "Navigate", "https://shop.example/cart"),
        custom(T0 + 300, "Navigate", "https://shop.example/cart"),  # duplicate
        custom(T0 + 350, "Navigate", {"url": "https://shop.example/x"}),  # not a string
        custom(T0 + 360, "Track", "https://shop.example/track"),  # not a navigation
        custom(T0 + 370, "MyNavigateThing", "https://shop.example/y"),  # not the SDK's tag
        custom(T0 + 400, "Reload", "https://shop.example/cart"),  # duplicate
        meta(T0 + 500, "https://shop.example/cart"),  # duplicate
        custom(T0 + 600, "Navigate", "https://shop.example/"),  # back: a new visit
        custom(T0 + 700, "Navigate", ""),  # empty
        custom(T0 + 800, "Reload", "https://shop.example/?r=1"),
    ]
    m = replay_metrics(events)
    assert m.pages == (
        PageVisit(T0, "https://shop.example/"),
        PageVisit(T0 + 200, "https://shop.example/cart"),
        PageVisit(T0 + 600, "https://shop.example/"),
        PageVisit(T0 + 800, "https://shop.example/?r=1"),
    )


def test_pages_are_in_timestamp_order() -> None:
    m = replay_metrics([meta(T0 + 10, "https://b.example/"), meta(T0, "https://a.example/")])
    assert m.pages == (
        PageVisit(T0, "https://a.example/"),
        PageVisit(T0 + 10, "https://b.example/"),
    )


# --- histogram -----------------------------------------------------------------------


def test_event_counts_histogram() -> None:
    # Length 100_000 ms, so each of the 100 buckets spans 1000 ms.
    events = [
        custom(T0 - 10, "Track", "{}"),  # before the first snapshot: outside
        full_snapshot(T0),  # neither interaction nor Custom
        mouse_move(T0 + 500),  # bucket 0
        mouse_move(T0 + 1500),  # bucket 1
        click(T0 + 1999),  # bucket 1
        custom(T0 + 50_000, "Identify", '"a@b.example"'),  # bucket 50
        mutation(T0 + 60_000),  # not counted
        text_input(T0 + 100_000),  # the end instant: last bucket
        mutation(T0 + 100_000),
        custom(T0 + 100_001, "Track", "{}"),  # after the last incremental: outside
    ]
    m = replay_metrics(events)
    expected = [0] * 100
    expected[0], expected[1], expected[50], expected[99] = 1, 2, 1, 1
    assert m.event_counts == tuple(expected)


# --- malformed input -----------------------------------------------------------------


def test_malformed_events_are_skipped() -> None:
    valid = [
        meta(T0, "https://a.example/"),
        full_snapshot(T0 + 1),
        *[click(T0 + 100 * i) for i in range(1, 6)],
        mutation(T0 + 2000),
    ]
    deep = b"[" * 100_000 + b"]" * 100_000
    malformed = [
        raw_event(3, T0 + 150, b"[]"),  # data not an object
        raw_event(3, T0 + 160, b'{"source":"mouse"}'),  # wrong field type
        raw_event(3, T0 + 170, b'{"source":2,"type":2,"x":"left","y":1}'),
        # Nesting too deep for msgspec (which the ingest edge refuses anyway).
        RrwebEvent(type=3, timestamp=T0 + 180, data=msgspec.Raw(b'{"source":2,"z":' + deep + b"}")),
        raw_event(3, T0 + 190, b'{"source":null}'),
        raw_event(4, T0 + 250, b'{"href":5}'),
        raw_event(4, T0 + 260, b'"oops"'),
        raw_event(5, T0 + 270, b'{"tag":1,"payload":"https://a.example/x"}'),
        RrwebEvent(
            type=5,
            timestamp=T0 + 280,
            data=msgspec.Raw(b'{"tag":"Navigate","payload":' + deep + b"}"),
        ),
        raw_event(5, T0 + 290, b'{"tag":"Navigate"}'),  # no payload
        RrwebEvent(type=3, timestamp=T0 + 300, data=msgspec.Raw(b"{not json")),
        RrwebEvent(type=4, timestamp=T0 + 310, data=msgspec.Raw(b"")),
        RrwebEvent(type=3, timestamp=float("nan"), data=msgspec.Raw(b'{"source":1}')),
        RrwebEvent(type=2, timestamp=float("inf"), data=msgspec.Raw(b"{}")),
        RrwebEvent(type=5, timestamp=float("-inf"), data=msgspec.Raw(b"{}")),
    ]
    m = replay_metrics([*valid, *malformed])
    assert m.pages == (PageVisit(T0, "https://a.example/"),)
    assert m.click_count == 5
    assert m.user_interaction_count == 5
    assert m.rage_clicks == (
        RageClick(start=T0 + 100, end=T0 + 500, x=100, y=100, count=5, node_id=7),
    )
    # The malformed incremental and Custom events still have valid timestamps: they bound
    # the session and a Custom event counts in the histogram without decoding.
    assert (m.first_event_at, m.last_event_at) == (T0, T0 + 2000)
    assert m.length_ms == 1999
    assert sum(m.event_counts) == 5 + 3  # 5 clicks + 3 Custom events in range


# --- the activity summary, taken again and again as a live session grows -------------------


def _defined_intervals(start: int, end: int, points: list[int]) -> tuple[Interval, ...]:
    """Steps 1-5 of the module docstring, written out one gap at a time (joining neighbours
    of a kind with the module's own `_coalesce`, which the interval tests above pin)."""
    distinct = sorted({start, end, *points})
    gaps = [Interval(a, b, b - a <= 10_000) for a, b in pairwise(distinct)]
    length = end - start
    merged = _coalesce(
        [
            Interval(i.start, i.end, i.active or (i.end - i.start) * 50 < length)
            for i in _coalesce(gaps)
        ]
    )
    if len(merged) == 1:
        merged = [Interval(start, end, True)]
    week = 7 * DAY_MS
    return tuple(
        _coalesce([Interval(i.start, i.end, i.active and i.end - i.start <= week) for i in merged])
    )


def _defined_histogram(start: int, length: int, stamps: list[int]) -> tuple[int, ...]:
    counts = [0] * 100
    for t in stamps:
        counts[min(99, (t - start) * 100 // length)] += 1
    return tuple(counts)


def _drawn_payloads(rng: random.Random) -> list[list[RrwebEvent]]:
    """A session's payloads: interactions with short gaps, idle stretches, repeated and
    late (out-of-order) timestamps, Custom events, and its FullSnapshot late or early."""
    t = T0
    payloads: list[list[RrwebEvent]] = []
    for n in range(rng.randint(1, 40)):
        batch: list[RrwebEvent] = []
        if n == rng.choice([0, 0, 1, 3]):
            batch.append(full_snapshot(t - rng.choice([0, 0, 20_000])))
        for _ in range(rng.randint(0, 30)):
            t += rng.choice([0, 1, 50, 400, 3_000, 9_999, 10_000, 10_001, 45_000, 600_000])
            late = t - rng.randint(0, 60_000) if rng.random() < 0.05 else t
            kind = rng.random()
            if kind < 0.7:
                batch.append(mouse_move(late))
            elif kind < 0.8:
                batch.append(text_input(late))
            elif kind < 0.9:
                batch.append(custom(late, "track", {"n": 1}))
            else:
                batch.append(mutation(late))
        payloads.append(batch)
    return payloads


@pytest.mark.parametrize("seed", range(40))
def test_summaries_taken_as_a_session_grows_match_the_definition(seed: int) -> None:
    """A live session's summary is taken after every few payloads; `result` keeps the
    interactions in time order between calls to slice and bisect them. Each summary must
    be what the definition gives for the events so far."""
    rng = random.Random(seed)
    accumulator = ReplayAccumulator()
    seen: list[RrwebEvent] = []
    for batch in _drawn_payloads(rng):
        for e in batch:
            accumulator.add(e)
        seen.extend(batch)
        got = accumulator.result()
        fulls = [int(e.timestamp) for e in seen if e.type == 2]
        incrementals = [int(e.timestamp) for e in seen if e.type == 3]
        if not fulls or not incrementals or max(incrementals) <= min(fulls):
            assert got.intervals == ()
            assert got.event_counts == ()
            continue
        start, end = min(fulls), max(incrementals)
        interactions = [
            int(e.timestamp)
            for e in seen
            if e.type == 3 and e.timestamp >= start and json_source(e) in (1, 5)
        ]
        customs = [int(e.timestamp) for e in seen if e.type == 5 and start <= e.timestamp <= end]
        assert got.user_interaction_count == len(interactions)
        assert got.intervals == _defined_intervals(start, end, interactions)
        assert got.event_counts == _defined_histogram(start, end - start, interactions + customs)
        assert got.active_ms == sum(i.end - i.start for i in got.intervals if i.active)


def json_source(e: RrwebEvent) -> int | None:
    source = msgspec.json.decode(e.data).get("source")
    return source if isinstance(source, int) else None


@pytest.mark.parametrize("length", [1_001, 997, 150, 100, 99])
def test_event_counts_put_every_millisecond_in_its_exact_bucket(length: int) -> None:
    """An interaction at every millisecond of a session whose bucket edges fall between
    milliseconds: each lands in bucket (t - start) * 100 // length, the end in the last."""
    events = [full_snapshot(T0), *(mouse_move(T0 + t) for t in range(length + 1))]
    got = replay_metrics(events)
    assert got.event_counts == _defined_histogram(T0, length, [T0 + t for t in range(length + 1)])


def test_activity_facts_past_the_bound_are_counted_not_kept_whatever_their_kind() -> None:
    """`max_activity_events` bounds the Custom events, interactions and clicks kept, all
    together: a click is two facts (an interaction and a click), taken on one check of room;
    past the bound every such event is counted in `activity_events_not_analysed`."""
    accumulator = ReplayAccumulator(max_activity_events=3)
    for e in [
        full_snapshot(T0),
        custom(T0 + 1, "Track", "{}"),  # 1 fact
        click(T0 + 2),  # 2 more: 3, the bound
        mouse_move(T0 + 3),  # no room
        custom(T0 + 4, "Track", "{}"),  # no room
        mutation(T0 + 5),  # not activity: never counted
    ]:
        accumulator.add(e)
    assert accumulator.activity_events_not_analysed == 2
    metrics = accumulator.result()
    assert metrics.click_count == 1
    assert metrics.user_interaction_count == 1


def test_the_weight_counts_what_is_kept_and_grows_with_each_page() -> None:
    """`weight` (what keeping a live session's accumulator costs, read after every run)
    counts each kept page's URL once, as it is kept, and the interactions' timestamps."""
    accumulator = ReplayAccumulator(max_pages=3)
    empty = accumulator.weight
    urls = [f"https://app.example/{'p' * n}" for n in (1, 40, 7, 99)]
    weights = []
    for n, url in enumerate(urls):
        accumulator.add(meta(1_000 + n, url))
        weights.append(accumulator.weight)
    kept = urls[:3]  # at most three pages
    assert [b - a for a, b in pairwise([empty, *weights])] == [
        len(url) + _STR_BYTES + 8 for url in kept
    ] + [0]
    accumulator.add(full_snapshot(2_000))
    before = accumulator.weight
    accumulator.add(text_input(2_001))
    assert accumulator.weight - before == 8
