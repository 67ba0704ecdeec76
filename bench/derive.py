"""What deriving a push costs processing, alone: CPU per payload on the SDK's captured pushes.

Every stored payload is derived twice in its session's life: by the live run soon after it
is stored, and again when the finished session is processed (its rows replace the live
ones), both by `processing.session.SessionDeriver.add_payload`. The ingest benchmark at
saturation hardly sees this (live runs fall behind under `FOOTLIGHT_LIVE_SHARE`, and no
session finishes within a run); below saturation it is about a third of what a push costs
(`cpu_ab.py --rate`, bench/README.md). Here it is measured without a server: the five
captured pushes (bench/payloads.py) fed to one deriver per session of `--pushes` payloads,
its rows dropped after each as a live run hands them over, best of several rounds of this
thread's CPU clock. `--profile` adds where the time goes (cProfile, by cumulative time).

    .venv/bin/python bench/derive.py             # ~10 s
    .venv/bin/python bench/derive.py --smoke     # a moment: it runs (CI)
    PYTHONPATH=/tmp/before/src .venv/bin/python bench/derive.py   # another tree, to compare
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from pathlib import Path

from footlight.config import Limits
from footlight.core import payload
from footlight.processing.limits import DerivationLimits
from footlight.processing.session import SessionDeriver
from footlight.store.base import Session, SessionInput, StoredPayload
from payloads import captured

# The captured session started a moment before its first push.
_SESSION = Session(
    id=1,
    secure_id="bench-derive",
    project_id=1,
    created_at=1_795_664_479_000,
    client_id=None,
    environment="production",
    app_version=None,
    service_name=None,
    client_version="10.7.5",
    client_config=None,
    user_agent=(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
        " HeadlessChrome/120.0.0.0 Safari/537.36"
    ),
    accept_language="en-US,en;q=0.9",
    identifier=None,
    user_object=None,
)


_LIMITS = Limits()


def _stored() -> list[StoredPayload]:
    """The captured pushes as the store hands them to processing (decoded as ingest does)."""
    stored = []
    for seq, body in enumerate(captured("PushSessionEvents")[:5], start=1):
        decoded = payload.decode_compressed(body["variables"]["data"], _LIMITS.max_inflated_bytes)
        stored.append(StoredPayload(seq, seq, "compressed", 0, decoded.summary, decoded.body))
    return stored


def _derive(stored: list[StoredPayload], pushes: int) -> None:
    """One session of `pushes` payloads, derived as its live runs do."""
    limits = DerivationLimits.from_limits(_LIMITS)
    deriver = SessionDeriver(SessionInput(_SESSION, None, None), "live", limits)
    for i in range(pushes):
        deriver.add_payload(stored[i % len(stored)])
        deriver.drop_rows()


def _us_per_payload(stored: list[StoredPayload], pushes: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.thread_time_ns()
        _derive(stored, pushes)
        best = min(best, (time.thread_time_ns() - started) / pushes / 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=200, help="payloads per session")
    parser.add_argument("--rounds", type=int, default=25, help="sessions; the best counts")
    parser.add_argument("--profile", action="store_true", help="also where the time goes")
    parser.add_argument("--smoke", action="store_true", help="a moment, for CI")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    pushes, rounds = (10, 2) if args.smoke else (args.pushes, args.rounds)
    stored = _stored()
    _us_per_payload(stored, pushes, 1)  # warm: ua-parser compiles its rules once
    us = _us_per_payload(stored, pushes, rounds)
    print(
        f"deriving a payload: {us:.1f} µs of CPU (best of {rounds} sessions of {pushes}"
        f" payloads, the {len(stored)} captured pushes in turn)"
    )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        _derive(stored, pushes)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    if args.json:
        args.json.write_text(json.dumps({"us_per_payload": round(us, 2)}, indent=2) + "\n")


if __name__ == "__main__":
    main()
