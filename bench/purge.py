"""Purging: how long a retention purge takes, the disk it gives back, and what it does to
the pushes a server acknowledges meanwhile (`footlight purge`, footlight.store.sql.admin).

This program starts `footlight serve` (embedded store, durability on; `--store postgresql`
for a fresh PostgreSQL database), records `--sessions` sessions of three ~100 KB pushes each
(random text, which gzip cannot shrink, so the bytes are real), half of them started 70 days
ago, and gives the project a 30-day retention. Then `--sessions-pushing` browsers push small
payloads at the SDK's pace for a baseline of `--baseline` seconds, `footlight purge` runs
beside the server while they go on, and they go on until a few seconds after it ends. It
reports the purge's time, the store's size on disk before and after (SQLite: the database
file once checkpointed; PostgreSQL: the database), and the pushes' acknowledgement times
before and during the purge: the longest one during it is the longest the purge held the
server's writes up.

    .venv/bin/python bench/purge.py                  # 400 sessions (~120 MB)
    .venv/bin/python bench/purge.py --smoke          # 20 sessions: checks that it runs
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from nodes import (
    ONE_CLIENT_FOR_MANY_BROWSERS,
    Node,
    fresh_database,
    query_store,
    start_footlight,
    store_options,
)
from payloads import compress, init_body, payload, push_body

DAY_MS = 86_400_000


async def _start(client: httpx.AsyncClient, url: str, sessions: int) -> list[str]:
    """`sessions` new sessions, 8 at a time."""
    gate = asyncio.Semaphore(8)

    async def one(n: int) -> str:
        async with gate:
            secure_id = f"purge-bench-{n}-{time.time_ns()}"
            (await client.post(url, json=init_body(secure_id))).raise_for_status()
            return secure_id

    return list(await asyncio.gather(*(one(n) for n in range(sessions))))


async def _fill(client: httpx.AsyncClient, url: str, secure_ids: list[str]) -> None:
    """Three incompressible ~100 KB pushes into each session, 8 sessions at a time."""
    gate = asyncio.Semaphore(8)

    async def one(secure_id: str) -> None:
        async with gate:
            for pid in (1, 2, 3):
                noise = base64.b64encode(os.urandom(75_000)).decode()
                events = [{"type": 5, "data": {"tag": "noise", "payload": noise}, "timestamp": 1}]
                body = push_body(secure_id, pid, compress(payload(events)))
                (await client.post(url, json=body)).raise_for_status()

    await asyncio.gather(*(one(secure_id) for secure_id in secure_ids))


async def _push(
    client: httpx.AsyncClient,
    url: str,
    session: int,
    until: float,
    acks: list[tuple[float, float]],
) -> None:
    """One browser: a small push every 2 s (staggered); (sent at, ack ms) of each."""
    secure_id = f"purge-bench-live-{session}-{time.time_ns()}"
    (await client.post(url, json=init_body(secure_id))).raise_for_status()
    await asyncio.sleep(2.0 * session / 50 % 2.0)
    pid = 0
    while time.monotonic() < until:
        pid += 1
        events = [{"type": 3, "data": {"source": 2, "type": 2, "id": 1}, "timestamp": 1}]
        body = push_body(secure_id, pid, compress(payload(events)))
        sent = time.monotonic()
        answer = await client.post(url, json=body)
        answer.raise_for_status()
        acks.append((sent, (time.monotonic() - sent) * 1000))
        await asyncio.sleep(2.0)


def _age(node: Node, secure_ids: list[str], created_at: int) -> None:
    """Make these sessions look `created_at`-old, straight in the store."""
    marks = ", ".join("?" * len(secure_ids))
    update = f"UPDATE sessions SET created_at = ? WHERE secure_id IN ({marks})"  # noqa: S608
    if node.store is not None:
        import psycopg

        with psycopg.connect(node.store) as pg:
            pg.execute(update.replace("?", "%s"), [created_at, *secure_ids])
        return
    with sqlite3.connect(node.data_dir / "footlight.db") as db:
        db.execute(update, [created_at, *secure_ids])


def _disk_bytes(node: Node) -> int:
    if node.store is not None:
        size = "SELECT pg_database_size(current_database())"
        return int(query_store(node.data_dir, node.store, size)[0][0])
    return (node.data_dir / "footlight.db").stat().st_size


async def _measure(node: Node, pushing: int, baseline: float) -> dict[str, object]:
    acks: list[tuple[float, float]] = []
    async with httpx.AsyncClient(timeout=60) as client:
        until = [time.monotonic() + 3600.0]
        browsers = [
            asyncio.create_task(_push(client, node.url, n, until[0], acks)) for n in range(pushing)
        ]
        await asyncio.sleep(baseline)
        disk_before = _disk_bytes(node)
        started = time.monotonic()
        purge = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "footlight",
            "purge",
            *store_options(node.data_dir, node.store),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        output, _ = await purge.communicate()
        ended = time.monotonic()
        if purge.returncode != 0:
            raise SystemExit(f"footlight purge failed ({purge.returncode})")
        await asyncio.sleep(3.0)  # the checkpointer's passes after the last vacuum step
        for browser in browsers:
            browser.cancel()
        await asyncio.gather(*browsers, return_exceptions=True)
    before = [ms for sent, ms in acks if sent < started]
    during = [ms for sent, ms in acks if started <= sent <= ended]
    return {
        "purge_seconds": round(ended - started, 2),
        "purge_output": output.decode().strip().splitlines()[-2:],
        "disk_before_mb": round(disk_before / 1e6, 1),
        "disk_after_mb": round(_disk_bytes(node) / 1e6, 1),
        "ack_ms_before": _summary(before),
        "ack_ms_during": _summary(during),
    }


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "pushes": len(values),
        "p50": round(statistics.median(ordered), 1),
        "p99": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1),
        "max": round(ordered[-1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=400)
    parser.add_argument("--sessions-pushing", type=int, default=50)
    parser.add_argument("--baseline", type=float, default=10.0)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--smoke", action="store_true", help="20 sessions, 2 s of baseline")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    if args.smoke:
        args.sessions, args.sessions_pushing, args.baseline = 20, 5, 2.0
    work = Path(tempfile.mkdtemp(prefix="footlight-purge-bench-"))
    store = fresh_database() if args.store == "postgresql" else None
    node = start_footlight(work / "data", store, settings=ONE_CLIENT_FOR_MANY_BROWSERS)
    try:
        started = asyncio.run(_record(node, args.sessions))
        old = started[: len(started) // 2]
        node.cli("project", "retention", "1", "30")
        result = {"store": args.store, "sessions": args.sessions, "aged": len(old)}
        result.update(asyncio.run(_measure(node, args.sessions_pushing, args.baseline)))
    finally:
        node.stop()
        shutil.rmtree(work, ignore_errors=True)
    during = result["ack_ms_during"]
    before = result["ack_ms_before"]
    print(
        f"purge ({args.store}): {len(old)} of {args.sessions} sessions in"
        f" {result['purge_seconds']} s;"
        f" disk {result['disk_before_mb']} -> {result['disk_after_mb']} MB;"
        f" acks before p50/p99/max {before.get('p50')}/{before.get('p99')}/{before.get('max')} ms,"
        f" during {during.get('p50')}/{during.get('p99')}/{during.get('max')} ms"
        f" ({during.get('pushes', 0)} pushes)"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


async def _record(node: Node, sessions: int) -> list[str]:
    """Start the sessions, make the first half 70 days old (their month ended more than 30
    days ago, whatever today's date), then fill them all. Aged before their pushes, as a
    session that old would have been: PostgreSQL keeps a session's payloads with the month
    it started, in a partition `footlight migrate` makes."""
    async with httpx.AsyncClient(timeout=60) as client:
        secure_ids = await _start(client, node.url, sessions)
        _age(node, secure_ids[: sessions // 2], int(time.time() * 1000) - 70 * DAY_MS)
        node.cli("migrate")
        await _fill(client, node.url, secure_ids)
    return secure_ids


if __name__ == "__main__":
    main()
