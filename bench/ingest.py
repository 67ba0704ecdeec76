"""footlight's ingest benchmark, measured side by side with the machine's HTTP ceiling.

One run, one machine, the same load generator and the same requests for both targets:

1. nginx (reads each body, answers a small JSON 200) under wrk with the SDK's request mix:
   the ceiling of this machine, load generator included;
2. footlight, started here on its embedded default store with durability on, under the same
   wrk run: payloads/s at saturation, and the ratio to nginx (the headline);
3. footlight at half that rate, requests sent on a fixed schedule by a Python client
   (asyncio protocols on uvloop): p50/p99 latency counted from when each request was due
   (wrk's pacing measures from when it was sent, which hides a stalled server);
4. footlight's peak RSS, its cold start (process start → first initializeSession answered),
   and the read throughput of a 50 MB session's events through the read API;
5. a check through the store that every acknowledged payload is stored exactly once.

The request mix (bench/mix.lua) replays the bodies highlight.run 10.7.5 really sent
(tests/fixtures), spread over many sessions with increasing payload ids. Results are
printed as a table and, with --json, written as JSON. `--smoke` runs every step for a
moment, for CI: it checks that the benchmark works, never how fast anything is.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ingest_report import Results, ScalingRow, cpu_ms_per_1000, print_results, print_scaling
from load import create_sessions, read_throughput, run_paced, run_wrk, run_wrk_on_nodes
from nodes import (
    ONE_CLIENT_FOR_MANY_BROWSERS,
    Node,
    compile_footlight,
    fresh_database,
    start_footlight,
    start_nginx,
    stop,
    tree_cpu_seconds,
)
from payloads import write_templates
from report import commit, machine, step
from verify import stored_payloads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15, help="length of each load run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--read-mb", type=int, default=50, help="size of the read-test session")
    parser.add_argument("--smoke", action="store_true", help="a few seconds, for CI")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--store",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="footlight's store: embedded SQLite, or a fresh database on the local PostgreSQL",
    )
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="instead: footlight on PostgreSQL with 1, 2 and 3 nodes, at saturation",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.seconds, args.sessions, args.read_mb, args.connections = 1, 50, 2, 8

    # What a user's install has: the cold start is not a compile.
    step(f"footlight measured: {compile_footlight().parent}")
    if args.scaling:
        return scaling(args)
    work = Path(tempfile.mkdtemp(prefix="footlight-bench-"))
    try:
        results = measure(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_results(results, args)
    failures = results.failures()
    for failure in failures:
        print(f"bench: FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def measure(work: Path, args: argparse.Namespace) -> Results:
    """The five steps of the module's docstring, in `work`."""
    templates = work / "requests"
    templates.mkdir()
    write_templates(templates)

    step("nginx: the ceiling")
    (work / "nginx-run").mkdir()
    nginx, nginx_url = start_nginx(work / "nginx-run")
    try:
        (templates / "sessions.txt").write_text(
            "\n".join(f"nginx{i:06d}" for i in range(args.sessions)) + "\n"
        )
        nginx_cpu = tree_cpu_seconds(nginx.pid)
        ceiling = run_wrk(
            nginx_url,
            templates,
            seconds=args.seconds,
            connections=args.connections,
            threads=args.threads,
        )
        nginx_cpu = tree_cpu_seconds(nginx.pid) - nginx_cpu
    finally:
        stop(nginx)

    step("footlight: start, sessions")
    data_dir = work / "footlight" / "data"
    data_dir.mkdir(parents=True)
    store = fresh_database() if args.store == "postgresql" else None
    footlight = start_footlight(data_dir, store, settings=ONE_CLIENT_FOR_MANY_BROWSERS)
    try:
        sessions = create_sessions(footlight.url, args.sessions)
        (templates / "sessions.txt").write_text("\n".join(sessions) + "\n")
        step("footlight: saturation")
        footlight_cpu = footlight.cpu_seconds()
        saturated = run_wrk(
            footlight.url,
            templates,
            seconds=args.seconds,
            connections=args.connections,
            threads=args.threads,
        )
        footlight_cpu = footlight.cpu_seconds() - footlight_cpu
        paced = []
        for share, name in ((2, "half"), (4, "a quarter of")):
            step(f"footlight: {name} the saturation rate (paced, open loop)")
            paced.append(
                run_paced(
                    footlight.url,
                    templates,
                    sessions,
                    rate=saturated.requests_per_second / share,
                    seconds=args.seconds,
                    connections=args.connections,
                )
            )
        half, quarter = paced
        step(f"footlight: read a {args.read_mb} MB session")
        read_mb, read_rate = read_throughput(footlight, args.read_mb)
        rss = footlight.peak_rss_mb()  # after the read, which is part of the peak
    finally:
        footlight.stop()
    stored = stored_payloads(data_dir, store, prefix="bench")
    return Results(
        date=time.strftime("%Y-%m-%d"),
        commit=commit(),
        machine=machine(),
        nginx=ceiling,
        footlight=saturated,
        footlight_half_rate=half,
        footlight_quarter_rate=quarter,
        ratio=saturated.payloads_per_second / ceiling.payloads_per_second,
        footlight_cpu_ms_per_1000=cpu_ms_per_1000(footlight_cpu, saturated),
        nginx_cpu_ms_per_1000=cpu_ms_per_1000(nginx_cpu, ceiling),
        peak_rss_mb=rss,
        cold_start_ms=footlight.cold_start_ms,
        read_mb=read_mb,
        read_mb_per_second=read_rate,
        stored_payloads=stored.rows_of(sessions),
        acknowledged_payloads=saturated.acked_pushes + half.acked_pushes + quarter.acked_pushes,
        duplicate_payloads=stored.twice(),
    )


def scaling(args: argparse.Namespace) -> int:
    """Saturation throughput of 1, 2 and 3 footlight nodes on one PostgreSQL database."""
    rows = []
    failures = 0
    for count in (1, 2, 3):
        work = Path(tempfile.mkdtemp(prefix="footlight-bench-"))
        nodes: list[Node] = []
        try:
            store = fresh_database()
            step(f"{count} node(s) on {store}")
            for i in range(count):
                data_dir = work / f"node{i}" / "data"
                data_dir.mkdir(parents=True)
                nodes.append(
                    start_footlight(data_dir, store, settings=ONE_CLIENT_FOR_MANY_BROWSERS)
                )
            sessions = create_sessions(nodes[0].url, args.sessions)
            directories = []
            for i in range(count):
                directory = work / f"requests{i}"
                directory.mkdir()
                write_templates(directory)
                (directory / "sessions.txt").write_text("\n".join(sessions[i::count]) + "\n")
                directories.append(directory)
            result = run_wrk_on_nodes(
                [node.url for node in nodes],
                directories,
                seconds=args.seconds,
                connections=args.connections,
                threads=args.threads,
            )
            rss = sum(node.peak_rss_mb() for node in nodes)
        finally:
            for node in nodes:
                node.stop()
            shutil.rmtree(work, ignore_errors=True)
        stored = stored_payloads(work, store, prefix="bench")
        row = ScalingRow(count, result, rss, stored.rows_of(sessions), stored.twice())
        failure = row.failure()
        if failure is not None:
            failures += 1
            print(f"bench: FAILED with {count} nodes: {failure}", file=sys.stderr)
        rows.append(row)
    print_scaling(rows, args)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
