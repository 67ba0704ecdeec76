"""Server CPU per 1,000 requests, this tree against another: at saturation, or at a set rate.

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

On a VM whose speed drifts within minutes (one tree measured 336 to 516 ms per 1,000
requests within an hour on 2026-12-05's Intel VM), alternating trials still leaves each
pair's ratio to the drift. `--side-by-side` runs both trees' servers at once instead, each
under its own wrk of half the connections (a fresh store each, every trial), and reports
each trial's ratio: both servers meet the same machine at the same moment, so the drift
falls on both alike. Each server then has about half the machine, so its CPU per request is
not bench/run's, but the ratio is what a change is judged by: the same tree on both sides
gave 0.94-1.05 in seven pairs, where four alternated pairs the same hour gave 0.90-1.18.

`--rate` measures below saturation instead: bench/run's paced client sends that many
requests a second, as browsers do, answered or not. There fewer requests share each group
commit and each session's live run than at saturation, so a request costs more, and what
batching saves shows less.

    .venv/bin/python bench/cpu_ab.py /tmp/before/src --side-by-side --pairs 3
    .venv/bin/python bench/cpu_ab.py /tmp/before/src --rate 600 --pairs 2
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

from load import WrkResult, create_sessions, run_paced, run_wrk, run_wrk_each
from nodes import (
    ONE_CLIENT_FOR_MANY_BROWSERS,
    compile_footlight,
    fresh_database,
    start_footlight,
    thread_cpu_seconds,
    thread_names,
)
from payloads import write_templates


class _Server:
    """A server of one tree on a fresh store, its sessions created and its wrk templates
    written."""

    def __init__(
        self, source: str | None, sessions: int, store: str, settings: dict[str, str]
    ) -> None:
        """The tree at `source` (None: this one), on a new PostgreSQL database for `store`
        postgresql, with `settings`."""
        self.work = Path(tempfile.mkdtemp(prefix="footlight-cpu-ab-"))
        self.templates = self.work / "requests"
        self.templates.mkdir()
        write_templates(self.templates)
        saved = os.environ.pop("PYTHONPATH", None)
        if source is not None:
            os.environ["PYTHONPATH"] = source
        try:
            self.node = start_footlight(
                self.work / "data",
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
            self.sessions = create_sessions(self.node.url, sessions)
        except BaseException:
            self.stop()
            raise
        (self.templates / "sessions.txt").write_text("\n".join(self.sessions) + "\n")

    def stop(self) -> None:
        self.node.stop()
        shutil.rmtree(self.work, ignore_errors=True)


def _trial(
    source: str | None,
    seconds: float,
    sessions: int,
    store: str,
    settings: dict[str, str],
    threads: bool = False,
    rate: float | None = None,
) -> dict[str, Any]:
    """One server of the tree at `source` (None: this one) under wrk for `seconds`, on a
    fresh store (a new PostgreSQL database for `store` postgresql), with `settings`; with
    `threads`, also each thread's CPU per request (of the server process). With `rate`,
    bench/run's paced client sends that many requests a second instead of wrk."""
    server = _Server(source, sessions, store, settings)
    node = server.node
    try:
        pid = node.process.pid
        threads_before = thread_cpu_seconds(pid) if threads else {}
        before = node.cpu_seconds()
        if rate is None:
            result = run_wrk(
                node.url, server.templates, seconds=seconds, connections=100, threads=2
            )
        else:
            result = run_paced(
                node.url,
                server.templates,
                server.sessions,
                rate=rate,
                seconds=seconds,
                connections=64,
            )
        cpu = node.cpu_seconds() - before
        by_thread = _by_name(pid, threads_before, thread_cpu_seconds(pid)) if threads else None
    finally:
        server.stop()
    return _measured(result, cpu, by_thread)


def _side_by_side(
    sources: dict[str, str | None],
    seconds: float,
    sessions: int,
    store: str,
    settings: dict[str, dict[str, str]],
) -> dict[str, dict[str, Any]]:
    """A server of each tree at once, each under its own wrk of 50 connections for
    `seconds` (see the module docstring); started in the order of `sources`."""
    servers: dict[str, _Server] = {}
    try:
        for name, source in sources.items():
            servers[name] = _Server(source, sessions, store, settings[name])
        before = {name: server.node.cpu_seconds() for name, server in servers.items()}
        results = run_wrk_each(
            [server.node.url for server in servers.values()],
            [server.templates for server in servers.values()],
            seconds=seconds,
            connections=50,
            threads=1,
        )
        used = {name: server.node.cpu_seconds() - before[name] for name, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()
    return {
        name: _measured(result, used[name]) for name, result in zip(servers, results, strict=True)
    }


def _measured(
    result: WrkResult, cpu: float, by_thread: dict[str, float] | None = None
) -> dict[str, Any]:
    """A trial's figures: the load's `result`, the server's CPU seconds meanwhile and, if
    read, each thread's (by name)."""
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
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="run both trees' servers at once, each under its own wrk of 50 connections,"
        " and report each pair's ratio (see the module docstring)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        help="requests/s sent on a fixed schedule (bench/run's paced client, 64 connections)"
        " instead of wrk at saturation: the CPU a request costs below saturation, where"
        " fewer of them share each commit and each live run",
    )
    args = parser.parse_args()
    if args.side_by_side and (args.threads or args.rate):
        parser.error("--threads and --rate measure one server at a time; leave out --side-by-side")
    this_settings = dict(setting.split("=", 1) for setting in args.this)
    compile_footlight(Path(args.other))
    compile_footlight(None if args.this_src is None else Path(args.this_src))
    trees: dict[str, str | None] = {"other": args.other, "this": args.this_src}
    trials: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    settings = {"this": this_settings, "other": {}}
    for pair in range(args.pairs):
        order = list(trees.items()) if pair % 2 == 0 else list(reversed(trees.items()))
        if args.side_by_side:
            both = _side_by_side(dict(order), args.seconds, args.sessions, args.store, settings)
            for name, trial in both.items():
                trials[name].append(trial)
            ratio = _ratio(both["other"], both["this"])
            print(f"pair {pair + 1}: {both}, this/other {ratio:.3f}", flush=True)
            continue
        for name, source in order:
            trial = _trial(
                source,
                args.seconds,
                args.sessions,
                args.store,
                settings[name],
                args.threads,
                args.rate,
            )
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
    ratios = [_ratio(o, t) for o, t in zip(trials["other"], trials["this"], strict=True)]
    print(
        f"this/other, CPU per request: {' · '.join(f'{r:.3f}' for r in ratios)}"
        f" (median {statistics.median(ratios):.3f})"
    )
    if args.json:
        args.json.write_text(json.dumps(trials, indent=2) + "\n")


def _ratio(other: dict[str, Any], this: dict[str, Any]) -> float:
    """This tree's CPU per request over the other's."""
    key = "cpu_ms_per_1000_requests"
    return float(this[key]) / max(float(other[key]), 1e-9)


if __name__ == "__main__":
    main()
