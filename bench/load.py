"""The load clients of the ingest benchmark, and what they measured.

Saturation is measured by wrk running bench/mix.lua (one per node when there are several:
a load balancer's even spread); latency by a paced Python client (asyncio protocols on
uvloop) that sends the same mix on a fixed schedule and counts each request's time from when
it was due, so that a stalled server is not excused by the client sending less.
`read_throughput` pushes one big session and reads its events back through the read API.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import httpx
import uvloop

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


def run_wrk_each(
    urls: list[str], directories: list[Path], *, seconds: float, connections: int, threads: int
) -> list[WrkResult]:
    """One wrk per server at once, each with `connections`: each server's result. If one
    fails (to start, or in its run), the others are stopped rather than left loading their
    servers for the rest of `seconds`."""
    processes: list[subprocess.Popen[str]] = []
    try:
        for url, directory in zip(urls, directories, strict=True):
            process = _start_wrk(
                url, directory, seconds=seconds, connections=connections, threads=threads
            )
            processes.append(process)
        return [_collect_wrk(p) for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def run_wrk_on_nodes(
    urls: list[str], directories: list[Path], *, seconds: float, connections: int, threads: int
) -> WrkResult:
    """One wrk per node at once (a load balancer's even spread), results added up."""
    share = max(1, connections // len(urls))
    results = run_wrk_each(urls, directories, seconds=seconds, connections=share, threads=threads)
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


_DRAIN_SECONDS = 60.0
"""How long the paced client waits for its last answers before it gives up on the run."""


class _Connection(asyncio.Protocol):
    """One kept-alive connection of the paced client: one request at a time, its answer read
    by its Content-Length (footlight and nginx send one on every answer)."""

    def __init__(self, client: _PacedClient) -> None:
        self._client = client
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._body_at = -1  # where the answer's body starts, once its head is in
        self._end = 0
        self._status = 0
        self.sent: _Sent | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is not an asyncio.Transport subclass, but writes as one.
        self._transport = cast(asyncio.Transport, transport)

    def send(self, sent: _Sent) -> None:
        assert self._transport is not None
        self.sent = sent
        self._transport.write(sent.request)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._body_at < 0:
            head_end = self._buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = bytes(self._buffer[:head_end]).lower()
            length = head.find(b"\r\ncontent-length:")
            value_end = head.find(b"\r\n", length + 2)
            try:
                if length < 0:
                    raise ValueError("no Content-Length")
                self._status = int(head[9:12])
                size = int(head[length + 17 : value_end if value_end > 0 else None])
            except ValueError as exc:
                # Raised here, it would only be logged by the loop, and the run would wait
                # for an answer that never ends.
                self._client.fail(f"an answer the client cannot read ({exc}): {head[:200]!r}")
                return
            self._body_at = head_end + 4
            self._end = self._body_at + size
        if len(self._buffer) < self._end:
            return
        sent, self.sent = self.sent, None
        if sent is None:
            # As above: raised in this callback, it would leave the run waiting.
            self._client.fail(f"an answer to no request: {bytes(self._buffer[:200])!r}")
            return
        ok = self._status == 200 and b'"errors"' not in self._buffer[self._body_at : self._end]
        del self._buffer[: self._end]
        self._body_at = -1
        self._client.answered(self, sent, ok)

    def connection_lost(self, exc: Exception | None) -> None:
        self._client.lost(self, exc)


@dataclass(slots=True)
class _Sent:
    request: bytes
    is_push: bool
    due: float


class _PacedClient:
    """Hands each request to an idle connection, or queues it until one is (its wait counts:
    latency runs from when it was due)."""

    def __init__(self) -> None:
        self.idle: list[_Connection] = []
        self.queued: collections.deque[_Sent] = collections.deque()
        self.latencies: list[float] = []
        self.counts = {"ok": 0, "acked": 0, "failed": 0}
        self.outstanding = 0
        self.drained = asyncio.get_running_loop().create_future()
        self.sending = True

    def send(self, sent: _Sent) -> None:
        self.outstanding += 1
        if self.idle:
            self.idle.pop().send(sent)
        else:
            self.queued.append(sent)

    def answered(self, connection: _Connection, sent: _Sent, ok: bool) -> None:
        self.latencies.append(time.perf_counter() - sent.due)
        if ok:
            self.counts["ok"] += 1
            self.counts["acked"] += sent.is_push
        else:
            self.counts["failed"] += 1
        self.outstanding -= 1
        if self.queued:
            connection.send(self.queued.popleft())
        else:
            self.idle.append(connection)
        if not self.sending and not self.outstanding and not self.drained.done():
            self.drained.set_result(None)

    def lost(self, connection: _Connection, exc: Exception | None) -> None:
        if connection in self.idle:  # closed between requests: sends go to the others
            self.idle.remove(connection)
        elif connection.sent is not None:
            self.fail(f"the server closed a connection with a request under way: {exc}")

    def fail(self, reason: str) -> None:
        """End the run with `reason` (the first one): its numbers would mean nothing."""
        if not self.drained.done():
            self.drained.set_exception(SystemExit(reason))


async def _paced(url: str, mix: Mix, rate: float, seconds: float, connections: int) -> WrkResult:
    """Send `rate` requests a second for `seconds` over `connections` kept-alive connections.

    The client is asyncio protocols on uvloop, with each request's bytes built before it is
    due: ~60 µs of CPU a request, where aiohttp took ~190 (bench/README.md, "The WAL starts
    over"). It shares two cores with the server, and what it spends is taken from the
    server, or shows as its own lateness."""
    target = urlsplit(url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    loop = asyncio.get_running_loop()
    client = _PacedClient()
    for _ in range(connections):
        _transport, connection = await loop.create_connection(
            lambda: _Connection(client), host, port
        )
        client.idle.append(connection)
    head = (
        f"POST {target.path or '/'} HTTP/1.1\r\nHost: {target.netloc}\r\n"
        "Content-Type: application/json\r\nAccept: */*\r\nContent-Length: "
    ).encode()
    total = int(rate * seconds)
    late = pushes = sent = 0
    started = time.perf_counter()
    while sent < total and not client.drained.done():  # done early: it failed
        now = time.perf_counter()
        due = started + sent / rate
        if due > now:
            # uvloop's timers count whole milliseconds: a shorter sleep would return at once.
            await asyncio.sleep(max(due - now, 0.001))
            continue
        while sent < total and due <= now:  # everything due by now, each timed from its due
            if now - due > LATE_MS / 1000:
                late += 1
            body, is_push = mix.next()
            pushes += is_push
            client.send(_Sent(head + b"%d\r\n\r\n" % len(body) + body, is_push, due))
            sent += 1
            due = started + sent / rate
    client.sending = False
    if client.outstanding or client.drained.done():
        try:
            await asyncio.wait_for(client.drained, _DRAIN_SECONDS)
        except TimeoutError:
            raise SystemExit(
                f"{client.outstanding} paced requests unanswered {_DRAIN_SECONDS} s after the"
                f" last was due ({len(client.idle)} connections left idle)"
            ) from None
    elapsed = time.perf_counter() - started
    latencies = sorted(client.latencies)

    def at(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return WrkResult(
        requests=total,
        seconds=elapsed,
        push_share=pushes / max(total, 1),
        ok=client.counts["ok"],
        acked_pushes=client.counts["acked"],
        failed=client.counts["failed"],
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
    return uvloop.run(_paced(url, mix, rate, seconds, connections))


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
