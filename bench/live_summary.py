"""What a live session's summary costs as the session grows (footlight.processing.replay_metrics).

A live run takes the session's summary again after every few payloads (its length, active
time and intervals, rage clicks, activity histogram), from everything the session's
`ReplayAccumulator` holds so far. So the cost of one summary, times the runs of a long
session, is what live derivation spends on it. This program feeds one synthetic session the
SDK's way, a payload every 2 s of 40 interaction events (mouse moves, scrolls, inputs, one
click in fifty, an idle stretch now and then), and times `result()` (best of five) after
100, 300, 900 and 1,800 payloads (3 to 60 minutes of recording). No server: one process,
one thread. Compare two trees by putting the other's `src` first on PYTHONPATH.

    .venv/bin/python bench/live_summary.py
    PYTHONPATH=/tmp/before/src .venv/bin/python bench/live_summary.py
    .venv/bin/python bench/live_summary.py --smoke    # 10 payloads: checks that it runs
"""

from __future__ import annotations

import argparse
import hashlib
import random
import time

import msgspec

from footlight.core.rrweb import RrwebEvent
from footlight.processing.replay_metrics import ReplayAccumulator

EVENTS_PER_PAYLOAD = 40
T0 = 1_700_000_000_000


def _event(t: int, kind: int, data: dict[str, object]) -> RrwebEvent:
    return RrwebEvent(kind, t, msgspec.Raw(msgspec.json.encode(data)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    marks = (10,) if args.smoke else (100, 300, 900, 1_800)
    rng = random.Random(1)
    accumulator = ReplayAccumulator(max_activity_events=500_000)
    t = T0
    accumulator.add(_event(t, 4, {"href": "https://app.example/", "width": 1280, "height": 720}))
    accumulator.add(_event(t, 2, {"node": {}}))
    for payload in range(1, marks[-1] + 1):
        for _ in range(EVENTS_PER_PAYLOAD):
            t += rng.randint(10, 100)
            if rng.random() < 0.02:
                x = rng.choice([10, 500])
                accumulator.add(_event(t, 3, {"source": 2, "type": 2, "id": 7, "x": x, "y": 20}))
            else:
                accumulator.add(_event(t, 3, {"source": rng.choice([1, 3, 5, 6]), "x": 1}))
        if rng.random() < 0.1:
            t += 15_000  # idle: an inactive stretch
        if payload in marks:
            seconds = []
            for _ in range(5):
                started = time.perf_counter()
                summary = accumulator.result()
                seconds.append(time.perf_counter() - started)
            print(
                f"{payload:>5} payloads ({summary.user_interaction_count:,} interactions,"
                f" {summary.click_count} clicks): summary {min(seconds) * 1000:.2f} ms"
            )
    # The same summary from both trees, or the comparison means nothing.
    print("summary digest", hashlib.sha256(repr(accumulator.result()).encode()).hexdigest()[:16])


if __name__ == "__main__":
    main()
