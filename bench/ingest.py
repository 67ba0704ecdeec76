"""footlight's ingest benchmark, measured side by side with the machine's HTTP ceiling.

One run, one machine, the same load generator and the same requests for both targets:

1. nginx (reads each body, answers a small JSON 200) under wrk with the SDK's request mix:
   the ceiling of this machine, load generator included;
2. footlight, started here on its embedded default store with durability on, under the same
   wrk run: payloads/s at saturation, and the ratio to nginx (the headline);
3. footlight at half that rate, requests sent on a fixed schedule by a Python (aiohttp)
   client: p50/p99 latency counted from when each request was due (wrk's pacing measures
   from when it was sent, which hides a stalled server);
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
import asyncio
import atexit
import base64
import concurrent.futures
import gzip
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
WORKERS: list[str] = []
POSTGRES = "postgresql://127.0.0.1:5432"
FIXTURES = ROOT / "tests" / "fixtures"
PUSH_DOC = (FIXTURES / "documents" / "PushSessionEvents.graphql").read_text()
INIT_DOC = (FIXTURES / "documents" / "initializeSession.graphql").read_text()


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

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def payloads_per_second(self) -> float:
        """Pushes answered per second: the same share of the same mix for both targets."""
        return self.ok * self.push_share / self.seconds


@dataclass
class Results:
    date: str
    commit: str
    machine: str
    nginx: WrkResult
    footlight: WrkResult
    footlight_half_rate: WrkResult
    footlight_quarter_rate: WrkResult
    ratio: float
    peak_rss_mb: float
    cold_start_ms: float
    read_mb: float
    read_mb_per_second: float
    stored_payloads: int
    acknowledged_payloads: int
    duplicate_payloads: int


# -- requests ----------------------------------------------------------------------------------


def _captured(operation: str) -> list[dict[str, Any]]:
    lines = (FIXTURES / "highlight-run-10.7.5-requests.jsonl").read_text().splitlines()
    bodies = [json.loads(line)["body"] for line in lines]
    return [b for b in bodies if b.get("operationName") == operation]


def _large_push_data() -> str:
    """A first push of a real page: a FullSnapshot of ~2,500 nodes (~300 KB of JSON)."""
    rng = random.Random(42)
    words = ["card", "row", "price", "title", "button", "item", "list", "grid", "nav", "cell"]
    nodes: list[dict[str, Any]] = []
    for i in range(2500):
        nodes.append(
            {
                "type": 2,
                "tagName": rng.choice(["div", "span", "li", "a", "p"]),
                "id": 100 + i,
                "attributes": {"class": " ".join(rng.choices(words, k=3))},
                "childNodes": [
                    {"type": 3, "textContent": " ".join(rng.choices(words, k=8)), "id": 100_000 + i}
                ],
            }
        )
    events = [
        {
            "type": 4,
            "data": {"href": "https://shop.example/", "width": 1280, "height": 800},
            "timestamp": 1795664479000,
            "_sid": 1,
        },
        {
            "type": 2,
            "data": {
                "node": {"type": 0, "id": 1, "childNodes": nodes},
                "initialOffset": {"left": 0, "top": 0},
            },
            "timestamp": 1795664479010,
            "_sid": 2,
        },
    ]
    payload = {
        "events": {"events": events},
        "messages": '{"messages":[]}',
        "resources": '{"resources":[]}',
        "web_socket_events": '{"webSocketEvents":[]}',
        "errors": [],
        "is_beacon": False,
        "has_session_unloaded": False,
    }
    return base64.b64encode(gzip.compress(json.dumps(payload).encode(), 6)).decode()


def _with_placeholders(body: dict[str, Any], pid: bool = False) -> str:
    variables = dict(body["variables"])
    variables["session_secure_id"] = "__SID__"
    if pid:
        variables["payload_id"] = "__PID__"
    # Payload ids stay JSON strings ("__PID__" filled with digits), as the SDK sends them.
    return json.dumps({**body, "variables": variables})


def write_templates(directory: Path) -> None:
    pushes = _captured("PushSessionEvents")
    for i in range(5):
        (directory / f"push-{i + 1}.json").write_text(
            _with_placeholders(pushes[i % len(pushes)], pid=True)
        )
    large = {**pushes[0], "variables": {**pushes[0]["variables"], "data": _large_push_data()}}
    (directory / "push-large.json").write_text(_with_placeholders(large, pid=True))
    for name, operation in (
        ("init", "initializeSession"),
        ("identify", "identifySession"),
        ("properties", "addSessionProperties"),
        ("feedback", "addSessionFeedback"),
    ):
        body = _captured(operation)[0]
        if name == "init":
            body = {**body, "variables": {**body["variables"], "organization_verbose_id": "1"}}
        (directory / f"{name}.json").write_text(_with_placeholders(body))


# -- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fresh_database() -> str:
    """A new PostgreSQL database on the local server (127.0.0.1:5432, trust auth), dropped
    when the benchmark exits."""
    import psycopg

    name = f"footlight_bench_{os.urandom(6).hex()}"
    with psycopg.connect(f"{POSTGRES}/test", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    atexit.register(_drop_database, name)
    return f"{POSTGRES}/{name}"


def _drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES}/test", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


ONE_CLIENT_FOR_MANY_BROWSERS = {
    # The load generator is one address standing for 2,000 browsers: the per-client limits
    # are raised out of its way (not turned off, so that their cost is still measured).
    "FOOTLIGHT_CLIENT_REQUESTS_PER_SECOND": "1000000",
    "FOOTLIGHT_CLIENT_REQUEST_BURST": "1000000",
    "FOOTLIGHT_CLIENT_BYTES_PER_SECOND": str(2**40),
    "FOOTLIGHT_CLIENT_BYTE_BURST": str(2**40),
    "FOOTLIGHT_CLIENT_NEW_SESSIONS_PER_SECOND": "1000000",
    "FOOTLIGHT_CLIENT_NEW_SESSION_BURST": "1000000",
    # read_throughput builds its 50 MB session with ~1,400 pushes as fast as it can; a
    # browser pushes every 2 s.
    "FOOTLIGHT_SESSION_REQUESTS_PER_SECOND": "1000000",
    "FOOTLIGHT_SESSION_REQUEST_BURST": "1000000",
}


def start_footlight(
    data_dir: Path, store: str | None = None
) -> tuple[subprocess.Popen[bytes], str, float]:
    """Start `footlight serve`; return it, its URL and its cold start in ms.

    Cold start is from process start to the first initializeSession answered 200.
    `store` is a postgresql:// URL, or None for the embedded SQLite store in `data_dir`.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (data_dir.parent / f"footlight-{port}.log").open("wb")
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "footlight",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--log-level",
            "warning",
            # The gRPC receiver is on, as by default, on a free port (beside other runs).
            "--otlp-grpc-port",
            "0",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "FOOTLIGHT_STORE": store or "", **ONE_CLIENT_FOR_MANY_BROWSERS},
    )
    body = _init_body(f"cold-start-{os.urandom(8).hex()}")
    with httpx.Client(timeout=5) as client:
        while True:
            try:
                if client.post(url, json=body).status_code == 200:
                    return process, url, (time.perf_counter() - started) * 1000
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.perf_counter() - started > 30:
                raise SystemExit(f"footlight did not start: see {log.name}")
            time.sleep(0.002)


def start_nginx(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / sub).mkdir(exist_ok=True)
    config = (Path(__file__).parent / "nginx.conf").read_text()
    config = config.replace("__DIR__", str(directory)).replace("__PORT__", str(port))
    (directory / "nginx.conf").write_text(config)
    process = subprocess.Popen([nginx, "-c", str(directory / "nginx.conf"), "-p", str(directory)])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            if httpx.post(url, content=b"{}").status_code == 200:
                return process, url
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise SystemExit("nginx did not start") from None
            time.sleep(0.02)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else float("nan")


# -- load --------------------------------------------------------------------------------------


def _init_body(secure_id: str) -> dict[str, Any]:
    body = _captured("initializeSession")[0]
    return {
        **body,
        "variables": {
            **body["variables"],
            "session_secure_id": secure_id,
            "organization_verbose_id": "1",
        },
    }


def create_sessions(url: str, count: int) -> list[str]:
    ids = [f"bench{i:06d}{os.urandom(8).hex()}"[:28] for i in range(count)]

    def init(secure_id: str) -> None:
        response = httpx.post(url, json=_init_body(secure_id), timeout=30)
        response.raise_for_status()
        assert "errors" not in response.json(), response.text

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(init, ids))
    return ids


_runs = 0


def _start_wrk(
    url: str, directory: Path, *, seconds: float, connections: int, threads: int, rate: float = 0
) -> subprocess.Popen[str]:
    global _runs
    _runs += 1
    env = {
        **os.environ,
        "BENCH_DIR": str(directory),
        "BENCH_RATE": str(rate),
        "BENCH_CONNECTIONS": str(connections),
        "BENCH_THREADS": str(threads),
        "BENCH_PID_BASE": str(_runs * 1_000_000_000),
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
            str(Path(__file__).parent / "mix.lua"),
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
        started = time.perf_counter()
        total = int(rate * seconds)
        for i in range(total):
            scheduled = started + i / rate
            pause = scheduled - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
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
    global _runs
    _runs += 1
    mix = Mix(directory, sessions, _runs * 1_000_000_000)
    return asyncio.run(_paced(url, mix, rate, seconds, connections))


def read_throughput(
    url: str, data_dir: Path, megabytes: int, store: str | None = None
) -> tuple[float, float]:
    """Push a session of ~`megabytes` of events, then read its events back twice: best MB/s."""
    rng = random.Random(7)
    words = ["checkout", "cart", "price", "total", "shipping", "product", "review", "account"]
    secure_id = create_sessions(url, 1)[0]
    pushed = 0
    payload_id = 0
    with httpx.Client(base_url=url, timeout=60) as client:
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
            data = base64.b64encode(gzip.compress(raw, 6)).decode()
            response = client.post(
                "/",
                json={
                    "query": PUSH_DOC,
                    "variables": {
                        "session_secure_id": secure_id,
                        "payload_id": payload_id,
                        "data": data,
                    },
                },
            )
            assert response.json().get("data"), response.text
    token = subprocess.run(
        [
            sys.executable,
            "-m",
            "footlight",
            "token",
            "create",
            *(["--store", store] if store else ["--data-dir", str(data_dir)]),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    best, size = 0.0, 0
    with httpx.Client(base_url=url, timeout=120) as client:
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


def verify(data_dir: Path, sessions: list[str], store: str | None = None) -> tuple[int, int]:
    """Stored payload rows of the benchmark's sessions, and (session, id) pairs stored twice."""
    if store is not None:
        import psycopg

        with psycopg.connect(store) as pg:
            stored = pg.execute(
                "SELECT count(*) FROM payloads p JOIN sessions s ON s.id = p.session_id"
                " WHERE s.secure_id = ANY(%s)",
                (sessions,),
            ).fetchone()
            twice = pg.execute(
                "SELECT count(*) FROM (SELECT session_id, payload_id FROM payloads"
                " GROUP BY session_id, payload_id HAVING count(*) > 1) d"
            ).fetchone()
        return int(stored[0] if stored else 0), int(twice[0] if twice else 0)
    with sqlite3.connect(data_dir / "footlight.db") as db:
        db.execute("CREATE TEMP TABLE bench_sessions (secure_id TEXT PRIMARY KEY)")
        db.executemany("INSERT INTO bench_sessions VALUES (?)", [(s,) for s in sessions])
        stored = db.execute(
            "SELECT count(*) FROM payloads p JOIN sessions s ON s.id = p.session_id"
            " JOIN bench_sessions b ON b.secure_id = s.secure_id"
        ).fetchone()[0]
        twice = db.execute(
            "SELECT count(*) FROM (SELECT session_id, payload_id FROM payloads"
            " GROUP BY session_id, payload_id HAVING count(*) > 1)"
        ).fetchone()[0]
    return int(stored), int(twice)


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} x {model}, Python {platform.python_version()}"


def step(text: str) -> None:
    print(f"-- {text}", file=sys.stderr, flush=True)


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

    if args.scaling:
        return scaling(args)
    work = Path(tempfile.mkdtemp(prefix="footlight-bench-"))
    try:
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
            ceiling = run_wrk(
                nginx_url,
                templates,
                seconds=args.seconds,
                connections=args.connections,
                threads=args.threads,
            )
        finally:
            stop(nginx)

        step("footlight: start, sessions")
        data_dir = work / "footlight" / "data"
        data_dir.mkdir(parents=True)
        store = fresh_database() if args.store == "postgresql" else None
        footlight, url, cold_start = start_footlight(data_dir, store)
        try:
            sessions = create_sessions(url, args.sessions)
            (templates / "sessions.txt").write_text("\n".join(sessions) + "\n")
            step("footlight: saturation")
            saturated = run_wrk(
                url,
                templates,
                seconds=args.seconds,
                connections=args.connections,
                threads=args.threads,
            )
            step("footlight: half the saturation rate (paced, open loop)")
            half = run_paced(
                url,
                templates,
                sessions,
                rate=saturated.requests_per_second / 2,
                seconds=args.seconds,
                connections=args.connections,
            )
            step("footlight: a quarter of the saturation rate (paced, open loop)")
            quarter = run_paced(
                url,
                templates,
                sessions,
                rate=saturated.requests_per_second / 4,
                seconds=args.seconds,
                connections=args.connections,
            )
            step(f"footlight: read a {args.read_mb} MB session")
            read_mb, read_rate = read_throughput(url, data_dir, args.read_mb, store)
            rss = peak_rss_mb(footlight.pid)  # after the read, which is part of the peak
        finally:
            stop(footlight)
        stored, twice = verify(data_dir, sessions, store)
        acknowledged = saturated.acked_pushes + half.acked_pushes + quarter.acked_pushes
        results = Results(
            date=time.strftime("%Y-%m-%d"),
            commit=_commit(),
            machine=_machine(),
            nginx=ceiling,
            footlight=saturated,
            footlight_half_rate=half,
            footlight_quarter_rate=quarter,
            ratio=saturated.payloads_per_second / ceiling.payloads_per_second,
            peak_rss_mb=rss,
            cold_start_ms=cold_start,
            read_mb=read_mb,
            read_mb_per_second=read_rate,
            stored_payloads=stored,
            acknowledged_payloads=acknowledged,
            duplicate_payloads=twice,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results, args)
    failures = []
    if twice:
        failures.append(f"{twice} (session, payload id) pairs are stored twice")
    failed = saturated.failed + half.failed + quarter.failed
    if failed:
        failures.append(f"{failed} requests were refused or failed")
    # Stored may exceed acknowledged by what was in flight when wrk stopped; never fall short.
    if stored < acknowledged:
        failures.append(f"only {stored} payloads stored, {acknowledged} acknowledged")
    for failure in failures:
        print(f"bench: FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def scaling(args: argparse.Namespace) -> int:
    """Saturation throughput of 1, 2 and 3 footlight nodes on one PostgreSQL database."""
    rows = []
    failures = 0
    for nodes in (1, 2, 3):
        work = Path(tempfile.mkdtemp(prefix="footlight-bench-"))
        processes: list[subprocess.Popen[bytes]] = []
        try:
            store = fresh_database()
            step(f"{nodes} node(s) on {store}")
            urls = []
            for i in range(nodes):
                data_dir = work / f"node{i}" / "data"
                data_dir.mkdir(parents=True)
                process, url, _ = start_footlight(data_dir, store)
                processes.append(process)
                urls.append(url)
            sessions = create_sessions(urls[0], args.sessions)
            directories = []
            for i in range(nodes):
                directory = work / f"requests{i}"
                directory.mkdir()
                write_templates(directory)
                (directory / "sessions.txt").write_text("\n".join(sessions[i::nodes]) + "\n")
                directories.append(directory)
            result = run_wrk_on_nodes(
                urls,
                directories,
                seconds=args.seconds,
                connections=args.connections,
                threads=args.threads,
            )
            rss = sum(peak_rss_mb(p.pid) for p in processes)
        finally:
            for process in processes:
                stop(process)
            shutil.rmtree(work, ignore_errors=True)
        stored, twice = verify(work, sessions, store)
        if twice or result.failed or stored < result.acked_pushes:
            failures += 1
            print(
                f"bench: FAILED with {nodes} nodes: {stored} stored,"
                f" {result.acked_pushes} acknowledged, {twice} twice",
                file=sys.stderr,
            )
        rows.append((nodes, result, rss, stored))
    print(
        f"\nfootlight on PostgreSQL — {time.strftime('%Y-%m-%d')}, commit {_commit()},"
        f" {_machine()}; {args.connections} connections in all, {args.seconds:g} s runs"
    )
    print(
        "\n| nodes | payloads/s | worst node's p50 / p99 (ms) | errors | peak RSS (all nodes) |"
        " acknowledged ≤ stored |\n|---:|---:|---:|---:|---:|---:|"
    )
    for nodes, r, rss, stored in rows:
        print(
            f"| {nodes} | {r.payloads_per_second:,.0f} | {r.p50_ms:.1f} / {r.p99_ms:.1f} |"
            f" {r.failed} | {rss:.0f} MB | {r.acked_pushes:,} ≤ {stored:,} |"
        )
    return 1 if failures else 0


def report(results: Results, args: argparse.Namespace) -> None:
    r = results
    rows = [
        ("nginx (ceiling), payloads/s", f"{r.nginx.payloads_per_second:,.0f}"),
        ("footlight, payloads/s at saturation", f"{r.footlight.payloads_per_second:,.0f}"),
        ("**footlight / nginx**", f"**{r.ratio:.2f}**"),
        (
            "footlight p50 / p99 at half rate (ms)",
            f"{r.footlight_half_rate.p50_ms:.1f} / {r.footlight_half_rate.p99_ms:.1f}"
            f" ({r.footlight_half_rate.requests_per_second:,.0f} requests/s)",
        ),
        (
            "footlight p50 / p99 at a quarter of it (ms)",
            f"{r.footlight_quarter_rate.p50_ms:.1f} / {r.footlight_quarter_rate.p99_ms:.1f}"
            f" ({r.footlight_quarter_rate.requests_per_second:,.0f} requests/s)",
        ),
        ("footlight peak RSS (MB)", f"{r.peak_rss_mb:.0f}"),
        ("cold start (ms)", f"{r.cold_start_ms:.0f}"),
        (f"event read, {r.read_mb:.0f} MB session (MB/s)", f"{r.read_mb_per_second:.0f}"),
        (
            "errors (footlight, all runs)",
            str(
                sum(
                    run.failed
                    for run in (r.footlight, r.footlight_half_rate, r.footlight_quarter_rate)
                )
            ),
        ),
        (
            "payloads acknowledged ≤ stored, stored twice",
            f"{r.acknowledged_payloads:,} ≤ {r.stored_payloads:,}, {r.duplicate_payloads}",
        ),
    ]
    print(f"\nfootlight ingest benchmark — {r.date}, commit {r.commit}, {r.machine}")
    print(
        f"{args.connections} connections, {args.threads} wrk threads, {args.seconds:g} s runs,"
        f" {args.sessions} sessions" + (" (smoke: not a measurement)" if args.smoke else "")
    )
    print("\n| measure | value |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    if args.json:
        args.json.write_text(json.dumps(asdict(results), indent=2) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
