"""Server CPU per 1,000 requests at saturation, this tree against another, alternated.

Payloads per second at saturation move with the machine (on the 2-vCPU development VM,
nginx's own ceiling moved 30-70k requests/s within a day), so a change's cost on ingest is
measured here as the CPU the `footlight serve` process used (from /proc) per 1,000 requests
it answered, under the same `wrk` load as bench/run's saturation step (the SDK's request
mix over 2,000 sessions). The trees run alternately, A B B A A B ..., so that a drift of the
machine falls on both. The other tree is a checkout's `src` (e.g. a `git worktree` of the
commit before), put first on `PYTHONPATH` for its servers.

    git worktree add /tmp/before HEAD~1
    .venv/bin/python bench/cpu_ab.py /tmp/before/src            # 4 pairs of 12 s
    .venv/bin/python bench/cpu_ab.py /tmp/before/src --pairs 1 --seconds 2   # a smoke
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from load import create_sessions, run_wrk
from nodes import (
    ONE_CLIENT_FOR_MANY_BROWSERS,
    compile_footlight,
    fresh_database,
    start_footlight,
    thread_cpu_seconds,
    thread_names,
)
from payloads import write_templates


def _trial(
    source: str | None,
    seconds: float,
    sessions: int,
    store: str,
    settings: dict[str, str],
    threads: bool = False,
) -> dict[str, Any]:
    """One server of the tree at `source` (None: this one) under wrk for `seconds`, on a
    fresh store (a new PostgreSQL database for `store` postgresql), with `settings`; with
    `threads`, also each thread's CPU per request (of the server process)."""
    work = Path(tempfile.mkdtemp(prefix="footlight-cpu-ab-"))
    templates = work / "requests"
    templates.mkdir()
    write_templates(templates)
    saved = os.environ.pop("PYTHONPATH", None)
    if source is not None:
        os.environ["PYTHONPATH"] = source
    try:
        node = start_footlight(
            work / "data",
            fresh_database() if store == "postgresql" else None,
            settings={
                **ONE_CLIENT_FOR_MANY_BROWSERS,
                "FOOTLIGHT_OTLP_GRPC_PORT": "off",
                **settings,
            },
        )
    finally:
        os.environ.pop("PYTHONPATH", None)
        if saved is not None:
            os.environ["PYTHONPATH"] = saved
    try:
        ids = create_sessions(node.url, sessions)
        (templates / "sessions.txt").write_text("\n".join(ids) + "\n")
        pid = node.process.pid
        threads_before = thread_cpu_seconds(pid) if threads else {}
        before = node.cpu_seconds()
        result = run_wrk(node.url, templates, seconds=seconds, connections=100, threads=2)
        cpu = node.cpu_seconds() - before
        by_thread = _by_name(pid, threads_before, thread_cpu_seconds(pid)) if threads else None
    finally:
        node.stop()
        shutil.rmtree(work, ignore_errors=True)
    requests = max(result.requests, 1)
    trial: dict[str, Any] = {
        "requests_per_second": round(result.requests / result.seconds, 1),
        "cpu_ms_per_1000_requests": round(cpu * 1e6 / requests, 1),
        "p99_ms": round(result.p99_ms, 1),
    }
    if by_thread is not None:
        trial["thread_us_per_request"] = {
            name: round(used * 1e6 / requests, 1) for name, used in by_thread.items() if used
        }
    return trial


def _by_name(pid: int, before: dict[int, float], after: dict[int, float]) -> dict[str, float]:
    """CPU seconds each thread of `pid` used from `before` to `after` (read as the load
    ended, before py-spy reads the names), by its Python name."""
    names = thread_names(pid)
    if any(tid not in names for tid in after):
        names = {**thread_names(pid), **names}  # a dump can miss a thread: ask again
    used: dict[str, float] = {}
    for tid, seconds in after.items():
        name = names.get(tid, f"thread {tid}")
        used[name] = used.get(name, 0.0) + seconds - before.get(tid, 0.0)
    return dict(sorted(used.items(), key=lambda item: -item[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", help="the other tree's src directory (put on PYTHONPATH)")
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--json", type=Path, help="also write every trial here")
    parser.add_argument(
        "--threads",
        action="store_true",
        help="also each thread's CPU per request (the event loop, the writer, ...), named by"
        " py-spy",
    )
    parser.add_argument(
        "--this-src",
        help="run this side from another checkout's src instead (e.g. a worktree of HEAD, so"
        " that this checkout can be edited while the benchmark runs)",
    )
    parser.add_argument(
        "--this",
        action="append",
        default=[],
        metavar="FOOTLIGHT_X=VALUE",
        help="a setting for this tree's servers only (e.g. FOOTLIGHT_WORKERS=2); repeatable",
    )
    args = parser.parse_args()
    this_settings = dict(setting.split("=", 1) for setting in args.this)
    compile_footlight(Path(args.other))
    compile_footlight(None if args.this_src is None else Path(args.this_src))
    trees: dict[str, str | None] = {"other": args.other, "this": args.this_src}
    trials: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for pair in range(args.pairs):
        order = list(trees.items()) if pair % 2 == 0 else list(reversed(trees.items()))
        for name, source in order:
            settings = this_settings if name == "this" else {}
            trial = _trial(source, args.seconds, args.sessions, args.store, settings, args.threads)
            trials[name].append(trial)
            print(f"pair {pair + 1}, {name}: {trial}", flush=True)
    for name, rows in trials.items():
        cpu = [r["cpu_ms_per_1000_requests"] for r in rows]
        rate = [r["requests_per_second"] for r in rows]
        print(
            f"{name}: CPU {statistics.mean(cpu):.0f} ms per 1,000 requests"
            f" ({' · '.join(f'{c:.0f}' for c in cpu)}), {statistics.mean(rate):.0f} requests/s"
        )
        if args.threads:
            names = {name for r in rows for name in r["thread_us_per_request"]}
            split = {
                name: statistics.mean(r["thread_us_per_request"].get(name, 0.0) for r in rows)
                for name in names
            }
            print(
                "  µs per request by thread: "
                + ", ".join(
                    f"{name} {us:.0f}"
                    for name, us in sorted(split.items(), key=lambda item: -item[1])
                    if us >= 0.5
                )
            )
    if args.json:
        args.json.write_text(json.dumps(trials, indent=2) + "\n")


if __name__ == "__main__":
    main()
