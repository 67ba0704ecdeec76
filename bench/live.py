"""Push to pane: how soon a console message a browser pushed can be read in its session's
console, while sessions record (footlight.processing.live).

This program starts `footlight serve` (embedded store, durability on, the default live
delay of 0.5 s; `--store postgresql` for a fresh PostgreSQL database) and has `--sessions`
sessions push at the SDK's pace (a payload every `--every` seconds, staggered), each payload
carrying one console message with a text of its own. A reader queries the store beside the
server every 10 ms for the messages derived so far. For each push it reports the time from
the push's 200 (the payload is durable) to the first read that shows its message: what a
developer waits between a `console.log` being sent and seeing it in the session's console
pane, less the pane's own reload. p50, p99 and the worst, and the server's CPU.

    .venv/bin/python bench/live.py               # 20 sessions for 30 s
    .venv/bin/python bench/live.py --smoke       # 2 sessions for 3 s: checks that it runs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from nodes import ONE_CLIENT_FOR_MANY_BROWSERS, fresh_database, query_store, start_footlight
from payloads import compress, init_body, payload, push_body


def _console(text: str, at_ms: int) -> str:
    return json.dumps({"messages": [{"type": "log", "value": [text], "time": at_ms, "trace": []}]})


async def _record(
    client: httpx.AsyncClient,
    url: str,
    session: int,
    every: float,
    until: float,
    acknowledged: dict[str, float],
) -> None:
    """One session: init, then a push every `every` s, each with a message of its own."""
    secure_id = f"live-bench-{session}-{time.time_ns()}"
    answer = await client.post(url, json=init_body(secure_id))
    answer.raise_for_status()
    await asyncio.sleep(every * session / 20 % every)  # staggered, as browsers are
    pid = 0
    while time.monotonic() < until:
        pid += 1
        now_ms = int(time.time() * 1000)
        text = f"bench message {secure_id} {pid}"
        events = [{"type": 3, "data": {"source": 2, "type": 2, "id": 1}, "timestamp": now_ms}]
        body = push_body(secure_id, pid, compress(payload(events, messages=_console(text, now_ms))))
        answer = await client.post(url, json=body)
        answer.raise_for_status()
        acknowledged[text] = time.monotonic()
        await asyncio.sleep(every)


def _watch(
    data_dir: Path,
    store: str | None,
    acknowledged: dict[str, float],
    seen: dict[str, float],
    stop: list[float],
) -> None:
    """Read the derived console messages every 10 ms; note when each was first seen."""
    while not stop[0] or len(seen) < len(acknowledged):
        rows = query_store(data_dir, store, "SELECT message FROM console_messages")
        now = time.monotonic()
        for (message,) in rows:
            seen.setdefault(message, now)
        if stop[0] and time.monotonic() > stop[1]:
            return
        time.sleep(0.01)


async def _run(
    url: str, sessions: int, every: float, seconds: float, data_dir: Path, store: str | None
) -> tuple[dict[str, float], dict[str, float]]:
    acknowledged: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop: list[float] = [False, 0.0]
    watcher = asyncio.get_running_loop().run_in_executor(
        None, _watch, data_dir, store, acknowledged, seen, stop
    )
    until = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(
            *(_record(client, url, n, every, until, acknowledged) for n in range(sessions))
        )
    stop[0], stop[1] = True, time.monotonic() + 30
    await watcher
    return acknowledged, seen


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument(
        "--every", type=float, default=2.0, help="seconds between a session's pushes"
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--smoke", action="store_true", help="2 sessions for 3 s")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    if args.smoke:
        args.sessions, args.seconds = 2, 3.0
    work = Path(tempfile.mkdtemp(prefix="footlight-live-bench-"))
    store = fresh_database() if args.store == "postgresql" else None
    node = start_footlight(work / "data", store, settings=ONE_CLIENT_FOR_MANY_BROWSERS)
    try:
        cpu_before = node.cpu_seconds()
        acknowledged, seen = asyncio.run(
            _run(node.url, args.sessions, args.every, args.seconds, node.data_dir, store)
        )
        cpu = node.cpu_seconds() - cpu_before
    finally:
        node.stop()
        shutil.rmtree(work, ignore_errors=True)
    missing = sorted(set(acknowledged) - set(seen))
    if missing:
        sys.exit(f"{len(missing)} pushed messages never showed, e.g. {missing[0]!r}")
    delays = [(seen[text] - at) * 1000 for text, at in acknowledged.items()]
    result = {
        "store": args.store,
        "sessions": args.sessions,
        "pushes": len(delays),
        "p50_ms": round(statistics.median(delays), 1),
        "p99_ms": round(_percentile(delays, 0.99), 1),
        "max_ms": round(max(delays), 1),
        "server_cpu_ms_per_push": round(cpu * 1000 / len(delays), 2),
    }
    print(
        f"push to pane ({args.store}, {args.sessions} sessions, a push every {args.every:g} s):"
        f" {result['pushes']} pushes, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms,"
        f" max {result['max_ms']} ms; server CPU {result['server_cpu_ms_per_push']} ms per push"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
