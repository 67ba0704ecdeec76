"""The load clients of the ingest benchmark, and what they measured.

Saturation is measured by wrk running bench/mix.lua (one per node when there are several:
a load balancer's even spread); latency by a paced Python client (aiohttp) that sends the
same mix on a fixed schedule and counts each request's time from when it was due, so that a
stalled server is not excused by the client sending less. `read_throughput` pushes one big
session and reads its events back through the read API.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from nodes import Node
from payloads import compress, init_body, push_body

MIX = Path(__file__).parent / "mix.lua"


LATE_MS = 10
"""A paced request the client sends this long after it was due counts as its own stall."""


@dataclass
class WrkResult:
    requests: int
    seconds: float
    push_share: float
    """Of the requests the mix built, the share that were pushes."""
    ok: int
    acked_pushes: int
    """Pushes answered 200 with data (for nginx, every 200 looks like one)."""
    failed: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    late_sends: int = 0
    """Paced runs: requests the client itself sent more than `LATE_MS` after they were due
    (it shares the cores with the server). Their wait counts in the latency all the same."""

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def payloads_per_second(self) -> float:
        """Pushes answered per second: the same share of the same mix for both targets."""
        return self.ok * self.push_share / self.seconds


def create_sessions(url: str, count: int) -> list[str]:
    """`count` new sessions (secure ids starting with "bench"), eight initializeSessions at
    a time."""
    ids = [f"bench{i:06d}{os.urandom(8).hex()}"[:28] for i in range(count)]

    # One client for all: `httpx.post` builds a client (and its TLS context) per call, which
    # made creating the sessions take longer than the run it prepares.
    with httpx.Client(timeout=30) as client:

        def init(secure_id: str) -> None:
            response = client.post(url, json=init_body(secure_id))
            response.raise_for_status()
            assert "errors" not in response.json(), response.text

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(init, ids))
    return ids


_runs = 0


def _next_pid_base() -> int:
    """Where the next run starts its payload ids, so that it never resends an earlier run's."""
    global _runs
    _runs += 1
    return _runs * 1_000_000_000


# -- wrk: saturation ---------------------------------------------------------------------------


def _start_wrk(
    url: str, directory: Path, *, seconds: float, connections: int, threads: int, rate: float = 0
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "BENCH_DIR": str(directory),
        "BENCH_RATE": str(rate),
        "BENCH_CONNECTIONS": str(connections),
        "BENCH_THREADS": str(threads),
        "BENCH_PID_BASE": str(_next_pid_base()),
    }
    return subprocess.Popen(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(MIX),
            url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _collect_wrk(process: subprocess.Popen[str]) -> WrkResult:
    out, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"wrk failed: {err}")
    line = next(row for row in out.splitlines() if row.startswith("BENCH "))
    raw = json.loads(line[len("BENCH ") :])
    if raw["failed"]:
        print(err, file=sys.stderr)
    return WrkResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        push_share=raw["pushes_built"] / max(raw["built"], 1),
        ok=raw["ok"],
        acked_pushes=raw["acked_pushes"],
        failed=raw["failed"],
        socket_errors=raw["socket_errors"],
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
    )


def run_wrk(
    url: str, directory: Path, *, seconds: float, connections: int, threads: int, rate: float = 0
) -> WrkResult:
    """wrk with the mix whose templates and sessions.txt are in `directory`."""
    process = _start_wrk(
        url, directory, seconds=seconds, connections=connections, threads=threads, rate=rate
    )
    return _collect_wrk(process)


def run_wrk_on_nodes(
    urls: list[str], directories: list[Path], *, seconds: float, connections: int, threads: int
) -> WrkResult:
    """One wrk per node at once (a load balancer's even spread), results added up."""
    share = max(1, connections // len(urls))
    processes = [
        _start_wrk(url, d, seconds=seconds, connections=share, threads=threads)
        for url, d in zip(urls, directories, strict=True)
    ]
    results = [_collect_wrk(p) for p in processes]
    built_share = sum(r.push_share * r.requests for r in results) / max(
        sum(r.requests for r in results), 1
    )
    return WrkResult(
        requests=sum(r.requests for r in results),
        seconds=max(r.seconds for r in results),
        push_share=built_share,
        ok=sum(r.ok for r in results),
        acked_pushes=sum(r.acked_pushes for r in results),
        failed=sum(r.failed for r in results),
        socket_errors=sum(r.socket_errors for r in results),
        p50_ms=max(r.p50_ms for r in results),
        p99_ms=max(r.p99_ms for r in results),
        max_ms=max(r.max_ms for r in results),
    )


# -- the paced client: latency -----------------------------------------------------------------


class Mix:
    """bench/mix.lua's request mix, in Python, for the paced latency run."""

    def __init__(self, directory: Path, sessions: list[str], pid_base: int) -> None:
        def load(name: str) -> str:
            return (directory / name).read_text()

        self.small = [load(f"push-{i}.json") for i in range(1, 6)]
        self.large = load("push-large.json")
        self.others = {n: load(f"{n}.json") for n in ("init", "identify", "properties", "feedback")}
        self.sessions = sessions
        self.pid_base = pid_base
        self.next_pid: dict[str, int] = {}
        self.n = 0
        self.pushes = 0

    def next(self) -> tuple[bytes, bool]:
        """The next request body, and whether it is a push."""
        self.n += 1
        sid = self.sessions[self.n % len(self.sessions)]
        for every, name in ((53, "init"), (97, "identify"), (101, "properties"), (211, "feedback")):
            if self.n % every == 0:
                return self.others[name].replace("__SID__", sid).encode(), False
        pid = self.next_pid.get(sid, 0) + 1
        self.next_pid[sid] = pid
        self.pushes += 1
        # As in mix.lua: by push count, so every run has the same share of large pushes.
        template = self.large if self.pushes % 40 == 1 else self.small[self.pushes % 5]
        body = template.replace("__SID__", sid).replace("__PID__", str(self.pid_base + pid))
        return body.encode(), True


async def _paced(url: str, mix: Mix, rate: float, seconds: float, connections: int) -> WrkResult:
    import aiohttp

    latencies: list[float] = []
    counts = {"ok": 0, "acked": 0, "failed": 0, "pushes": 0}
    headers = {"Content-Type": "application/json", "Accept": "*/*"}
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send(body: bytes, is_push: bool, scheduled: float) -> None:
            async with session.post(url, data=body, headers=headers) as response:
                text = await response.read()
            # From when it was due, not when it went out: a stalled server is not excused by
            # the client sending less (no coordinated omission).
            latencies.append(time.perf_counter() - scheduled)
            if response.status == 200 and b'"errors"' not in text:
                counts["ok"] += 1
                counts["acked"] += is_push
            else:
                counts["failed"] += 1

        tasks = []
        late = 0
        started = time.perf_counter()
        total = int(rate * seconds)
        for i in range(total):
            scheduled = started + i / rate
            pause = scheduled - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
            elif pause < -LATE_MS / 1000:
                late += 1
            body, is_push = mix.next()
            counts["pushes"] += is_push
            tasks.append(asyncio.create_task(send(body, is_push, scheduled)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    latencies.sort()

    def at(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return WrkResult(
        requests=total,
        seconds=elapsed,
        push_share=counts["pushes"] / max(total, 1),
        ok=counts["ok"],
        acked_pushes=counts["acked"],
        failed=counts["failed"],
        socket_errors=0,
        p50_ms=at(0.50),
        p99_ms=at(0.99),
        max_ms=latencies[-1] * 1000,
        late_sends=late,
    )


def run_paced(
    url: str,
    directory: Path,
    sessions: list[str],
    *,
    rate: float,
    seconds: float,
    connections: int,
) -> WrkResult:
    """Requests sent on a fixed schedule (open loop) at `rate`; latency from when each was due."""
    mix = Mix(directory, sessions, _next_pid_base())
    return asyncio.run(_paced(url, mix, rate, seconds, connections))


# -- reading -----------------------------------------------------------------------------------


def read_throughput(node: Node, megabytes: int) -> tuple[float, float]:
    """Push a session of ~`megabytes` of events, then read its events back twice: best MB/s."""
    rng = random.Random(7)
    words = ["checkout", "cart", "price", "total", "shipping", "product", "review", "account"]
    secure_id = create_sessions(node.url, 1)[0]
    pushed = 0
    payload_id = 0
    with httpx.Client(base_url=node.url, timeout=60) as client:
        while pushed < megabytes * 1_000_000:
            payload_id += 1
            events = [
                {
                    "type": 3,
                    "timestamp": 1795664479000 + payload_id * 2000 + j,
                    "data": {
                        "source": 0,
                        "texts": [],
                        "attributes": [],
                        "removes": [],
                        "adds": [
                            {
                                "parentId": j,
                                "nextId": None,
                                "node": {
                                    "type": 2,
                                    "tagName": "div",
                                    "id": payload_id * 1000 + j,
                                    "attributes": {"class": " ".join(rng.choices(words, k=4))},
                                    "childNodes": [
                                        {
                                            "type": 3,
                                            "id": payload_id * 1000 + 500 + j,
                                            "textContent": " ".join(rng.choices(words, k=30)),
                                        }
                                    ],
                                },
                            }
                        ],
                    },
                }
                for j in range(120)
            ]
            raw = json.dumps(
                {"events": {"events": events}, "messages": "", "resources": "", "errors": []}
            ).encode()
            pushed += len(raw)
            response = client.post("/", json=push_body(secure_id, payload_id, compress(raw)))
            assert response.json().get("data"), response.text
    token = node.cli("token", "create")
    best, size = 0.0, 0
    with httpx.Client(base_url=node.url, timeout=120) as client:
        for _ in range(3):
            started = time.perf_counter()
            size = 0
            with client.stream(
                "GET",
                f"/api/v1/sessions/{secure_id}/events",
                headers={"authorization": f"Bearer {token}"},
            ) as response:
                for chunk in response.iter_bytes(1 << 20):
                    size += len(chunk)
            best = max(best, size / 1e6 / (time.perf_counter() - started))
    return size / 1e6, best
