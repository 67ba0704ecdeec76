"""Hostile clients against one footlight: does a normal SDK client still get served?

The ingest endpoint is public, so footlight must stay up, fast and bounded whatever a stranger
sends. This program starts `footlight serve` (the embedded store, or `--store postgresql://…`)
with a lowered open-file limit, then runs a *normal client* the whole time: a few browser tabs
doing what highlight.run does (initializeSession, then the captured pushes with increasing
payload ids, identify, properties), from 127.0.0.1. Beside it, one attack at a time and then
all of them together, each from its own process and its own loopback address (127.0.0.N; all
of 127/8 is loopback on Linux, so each attacker is a different client to footlight):

    idle          holds as many connections open as it can, sending nothing
    slowloris     sends request heads a byte at a time
    slow-bodies   declares the largest bodies allowed and holds back their last byte
    properties    addSessionProperties with 600,000 keys (9.5 MB)
    legacy        a 15 MB legacy pushPayload, over and over
    flood         the same 11.5 MiB payload under new payload ids, 4 connections
    sessions      initializeSession with a new secure id, as fast as it can
    eventful      pushes that inflate ~250 times into ~60 MB of tiny events
    strange       secure ids like `../../x` or with NUL and escapes, 1 MB identifiers,
                  error timestamps in the year 9999
    reads         (with a read token) a big session's console, network and events, and its
                  UI page, over and over

It reports, per phase, the normal client's latency (p50/p99/max) and failures, what each
attacker was answered, and the server's peak RSS; then checks through the store that every
push the normal client saw acknowledged is stored exactly once, and that the UI's errors page
still renders. The exit status is 1 when a request of the normal client failed, its p99
under any one attack reached the SDK's retry interval (1.5 s) or, with all of them at once,
the time after which the SDK gives a call up (6.5 s: the attackers then run ten processes on
the server's own cores), the server died or grew past `--rss-limit-mb`, or an acknowledged
push is missing. `--light` is the form CI runs (2 s an attack, about 40 s in all); the
default is the full soak (15 s an attack, a minute together).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
DOCUMENTS = FIXTURES / "documents"
SDK_RETRY_WINDOW_S = 1.5
"""The SDK retries a failed call 1.5 s later: a normal client's p99 under each attack."""
SDK_GIVES_UP_S = 6.5
"""...and gives it up after ~6.5 s of retries: the bound with every attack at once, when the
attackers, run on this machine, take most of its CPU from the server."""
FD_LIMIT = 1024


def _captured(operation: str) -> list[dict[str, Any]]:
    lines = (FIXTURES / "highlight-run-10.7.5-requests.jsonl").read_text().splitlines()
    bodies = [json.loads(line)["body"] for line in lines]
    return [b for b in bodies if b.get("operationName") == operation]


def _compress(payload: Any) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.b64encode(gzip.compress(raw, 6, mtime=0)).decode()


def _payload(events: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "events": {"events": events},
        "messages": '{"messages":[]}',
        "resources": '{"resources":[]}',
        "web_socket_events": '{"webSocketEvents":[]}',
        "errors": [],
        "is_beacon": False,
        "has_session_unloaded": False,
        **extra,
    }


NOW_MS = int(time.time() * 1000)
META = {"type": 4, "data": {"href": "https://shop.example/", "width": 1280, "height": 800}}


# -- talking to footlight ----------------------------------------------------------------------


def _init_body(secure_id: str, project: str = "1") -> dict[str, Any]:
    body = dict(_captured("initializeSession")[0])
    body["variables"] = {
        **body["variables"],
        "session_secure_id": secure_id,
        "organization_verbose_id": project,
    }
    return body


def _push_body(secure_id: str, payload_id: int, data: str) -> dict[str, Any]:
    return {
        "operationName": "PushSessionEvents",
        "query": (DOCUMENTS / "PushSessionEvents.graphql").read_text(),
        "variables": {"session_secure_id": secure_id, "payload_id": str(payload_id), "data": data},
    }


def _secure_id(prefix: str, n: int) -> str:
    return f"{prefix}{os.getpid():x}{n:x}{os.urandom(6).hex()}"[:28].ljust(28, "x")


def _client(address: str, timeout: float = 30.0) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address, retries=0)
    return httpx.Client(transport=transport, timeout=timeout, headers={"accept": "*/*"})


def _ok(response: httpx.Response) -> bool:
    if response.status_code != 200:
        return False
    body = response.json()
    return not body.get("errors") and body.get("data") is not None


# -- the normal client -------------------------------------------------------------------------


@dataclass
class Sample:
    at: float
    seconds: float
    ok: bool
    what: str


@dataclass
class NormalClient:
    """A few tabs of a real site: what the SDK sends, a push every `interval` per tab."""

    url: str
    tabs: int = 4
    interval: float = 0.25
    samples: list[Sample] = field(default_factory=list)
    acknowledged: list[tuple[str, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for tab in range(self.tabs):
            thread = threading.Thread(target=self._tab, args=(tab,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _timed(self, client: httpx.Client, what: str, body: dict[str, Any]) -> bool:
        started = time.monotonic()
        try:
            ok = _ok(client.post(self.url, json=body))
        except httpx.HTTPError:
            ok = False
        self.samples.append(Sample(started, time.monotonic() - started, ok, what))
        return ok

    def _tab(self, tab: int) -> None:
        pushes = [p["variables"]["data"] for p in _captured("PushSessionEvents")]
        identify = _captured("identifySession")[0]
        properties = _captured("addSessionProperties")[0]
        with _client("127.0.0.1", timeout=60) as client:
            while not self._stop.is_set():
                secure_id = _secure_id(f"normal{tab}", 0)
                if not self._timed(client, "initializeSession", _init_body(secure_id)):
                    self._stop.wait(self.interval)
                    continue
                for n in range(40):
                    if self._stop.wait(self.interval):
                        return
                    payload_id = NOW_MS + tab * 1_000_000 + n
                    body = _push_body(secure_id, payload_id, pushes[n % len(pushes)])
                    if self._timed(client, "push", body):
                        self.acknowledged.append((secure_id, payload_id))
                    if n == 3:
                        self._timed(
                            client,
                            "identify",
                            {
                                **identify,
                                "variables": {
                                    **identify["variables"],
                                    "session_secure_id": secure_id,
                                },
                            },
                        )
                    if n == 5:
                        self._timed(
                            client,
                            "properties",
                            {
                                **properties,
                                "variables": {
                                    **properties["variables"],
                                    "session_secure_id": secure_id,
                                },
                            },
                        )

    def window(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.at < end]


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = q * (len(ordered) - 1)
    low = int(index)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (index - low)


# -- attacks: each runs in its own process (`hostile.py --attack NAME`) ------------------------


def _deadline(seconds: float) -> Callable[[], bool]:
    end = time.monotonic() + seconds
    return lambda: time.monotonic() < end


def _host_port(url: str) -> tuple[str, int]:
    match = re.fullmatch(r"http://([^:/]+):(\d+)/?", url)
    assert match, url
    return match.group(1), int(match.group(2))


def _raw_socket(url: str, source: str) -> socket.socket:
    host, port = _host_port(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.settimeout(5)
    sock.connect((host, port))
    return sock


def attack_idle(url: str, source: str, seconds: float, answers: Counter[str]) -> None:
    running = _deadline(seconds)
    held: list[socket.socket] = []
    while running():
        if len(held) < 3 * FD_LIMIT:
            try:
                held.append(_raw_socket(url, source))
                answers["opened"] += 1
            except OSError as exc:
                answers[f"refused: {exc.__class__.__name__}"] += 1
                time.sleep(0.01)
        else:
            time.sleep(0.1)
        # Connections the server closed are counted and replaced.
        if len(held) % 64 == 0:
            for sock in list(held):
                sock.setblocking(False)
                try:
                    if sock.recv(1, socket.MSG_PEEK) == b"":
                        answers["closed by server"] += 1
                        held.remove(sock)
                        sock.close()
                except BlockingIOError:
                    pass
                except OSError:
                    held.remove(sock)
                    sock.close()
                    answers["closed by server"] += 1
    for sock in held:
        sock.close()


def attack_slowloris(url: str, source: str, seconds: float, answers: Counter[str]) -> None:
    running = _deadline(seconds)
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Pad: "
    open_: list[tuple[socket.socket, int]] = []
    while running():
        while len(open_) < 200:
            try:
                open_.append((_raw_socket(url, source), 0))
                answers["opened"] += 1
            except OSError:
                answers["refused"] += 1
                break
        kept = []
        for sock, sent in open_:
            try:
                sock.send(head[sent : sent + 1] if sent < len(head) else b"a")
                kept.append((sock, sent + 1))
            except OSError:
                answers["closed by server"] += 1
                sock.close()
        open_ = kept
        time.sleep(0.5)
    for sock, _ in open_:
        sock.close()


def attack_slow_bodies(url: str, source: str, seconds: float, answers: Counter[str]) -> None:
    running = _deadline(seconds)
    size = 16 * 1024 * 1024 - 1024
    chunk = b"x" * (1024 * 1024)
    socks: list[socket.socket] = []

    def one() -> None:
        try:
            sock = _raw_socket(url, source)
        except OSError:
            answers["refused"] += 1
            return
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {size}\r\n\r\n".encode()
        )
        left = size - 1
        try:
            while left > 0 and running():
                part = chunk[: min(left, len(chunk))]
                sock.settimeout(2)
                sock.sendall(part)
                left -= len(part)
            answers["held back the last byte"] += 1
            socks.append(sock)
        except OSError:
            answers["cut off"] += 1
            sock.close()

    threads: list[threading.Thread] = []
    while running() and len(threads) < 250:
        thread = threading.Thread(target=one, daemon=True)
        thread.start()
        threads.append(thread)
        time.sleep(0.02)
    while running():
        time.sleep(0.1)
    for sock in socks:
        sock.close()


def _post_loop(
    url: str,
    source: str,
    seconds: float,
    answers: Counter[str],
    body_for: Callable[[int], bytes],
    connections: int = 1,
) -> None:
    running = _deadline(seconds)

    def loop(worker: int) -> None:
        with _client(source, timeout=30) as client:
            n = 0
            while running():
                n += 1
                try:
                    response = client.post(
                        url,
                        content=body_for(worker * 1_000_000 + n),
                        headers={"content-type": "application/json"},
                    )
                except httpx.HTTPError as exc:
                    answers[f"transport error: {exc.__class__.__name__}"] += 1
                    time.sleep(0.05)
                    continue
                label = str(response.status_code)
                if response.status_code == 200:
                    label += " ok" if _ok(response) else " with errors"
                try:
                    codes = {
                        e.get("extensions", {}).get("code")
                        for e in response.json().get("errors", [])
                    }
                    if codes:
                        label += " " + ",".join(sorted(str(c) for c in codes))
                except ValueError:
                    pass
                if response.status_code in (429, 503) and "retry-after" not in response.headers:
                    label += " WITHOUT Retry-After"
                answers[label] += 1
                if response.status_code in (429, 503):
                    time.sleep(0.05)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _new_session(url: str, source: str, prefix: str) -> str:
    secure_id = _secure_id(prefix, 0)
    with _client(source) as client:
        response = client.post(url, json=_init_body(secure_id))
    if not _ok(response):
        raise SystemExit(f"cannot create a session for the attack: {response.text[:300]}")
    return secure_id


def attack_properties(url: str, source: str, seconds: float, answers: Counter[str]) -> None:
    secure_id = _new_session(url, source, "props")
    document = _captured("addSessionProperties")[0]
    properties = {f"key{i:06d}": "v" for i in range(600_000)}
    body = json.dumps(
        {**document, "variables": {"session_secure_id": secure_id, "properties_object": properties}}
    ).encode()
    _post_loop(url, source, seconds, answers, lambda _: body, connections=2)


def attack_legacy(url: str, source: str, seconds: float, answers: Counter[str]) -> None:
    secure_id = _new_session(url, source, "legacy")
    query = (
        "mutation PushPayload($session_secure_id: String!, $payload_id: ID!, $events:"
        " ReplayEventsInput!, $messages: String!, $resources: String!, $web_socket_events:"
        " String!, $errors: [ErrorObjectInput]!, $is_beacon: Boolean, $has_session_unloaded:"
        " Boolean, $highlight_logs: String) { pushPayload(session_secure_id:"
        " $session_secure_id, payload_id: $payload_id, events: $events, messages: $messages,"
        " resources: $resources, web_socket_events: $web_socket_events, errors: $errors,"
        " is_beacon: $is_beacon, has_session_unloaded: $has_session_unloaded, highlight_logs:"
        " $highlight_logs) }"
    )
    # ~10 MB of events, under the 100,000 one push may hold: seconds of decoding and coercion.
    events = [
        {
            "type": 3,
            "timestamp": NOW_MS + i,
            "data": {"source": 2, "type": 2, "id": i, "x": 1, "y": 2},
            "_sid": i + 1,
        }
        for i in range(95_000)
    ]
    variables = {
        "session_secure_id": secure_id,
        "events": {"events": events},
        "messages": '{"messages":[]}',
        "resources": '{"resources":[]}',
        "web_socket_events": '{"webSocketEvents":[]}',
        "errors": [],
    }
    template = json.dumps({"query": query, "variables": {**variables, "payload_id": "@PID@"}})

    def body(n: int) -> bytes:
        return template.replace('"@PID@"', str(n)).encode()

    _post_loop(url, source, seconds, answers, body, connections=2)


def attack_flood(url: str, source: str, seconds: float, answers: Counter[str]) -> None:
    secure_id = _new_session(url, source, "flood")
    # ~11.5 MiB of base64: incompressible text inside a valid payload.
    noise = base64.b64encode(os.urandom(6 * 1024 * 1024)).decode()
    data = _compress(
        _payload(
            [{**META, "timestamp": NOW_MS}],
            messages=json.dumps({"messages": [{"type": "log", "time": NOW_MS, "value": [noise]}]}),
        )
    )
    template = json.dumps(_push_body(secure_id, 0, data)).replace(
        '"payload_id": "0"', '"payload_id": "@PID@"'
    )

    def body(n: int) -> bytes:
        return template.replace("@PID@", str(NOW_MS + n)).encode()

    _post_loop(url, source, seconds, answers, body, connections=4)


def attack_sessions(url: str, source: str, seconds: float, answers: Counter[str]) -> None:
    def body(n: int) -> bytes:
        return json.dumps(_init_body(_secure_id("new", n))).encode()

    _post_loop(url, source, seconds, answers, body, connections=4)


def attack_eventful(url: str, source: str, seconds: float, answers: Counter[str]) -> None:
    secure_id = _new_session(url, source, "eventful")
    tiny = [{"type": 3, "timestamp": NOW_MS, "data": {}}] * 2_000_000
    data = _compress(_payload([{**META, "timestamp": NOW_MS}, *tiny]))
    template = json.dumps(_push_body(secure_id, 0, data)).replace(
        '"payload_id": "0"', '"payload_id": "@PID@"'
    )

    def body(n: int) -> bytes:
        return template.replace("@PID@", str(NOW_MS + n)).encode()

    _post_loop(url, source, seconds, answers, body, connections=2)


def attack_strange(url: str, source: str, seconds: float, answers: Counter[str]) -> None:
    identify = _captured("identifySession")[0]
    bad_times = _compress(
        _payload(
            [{**META, "timestamp": NOW_MS}],
            errors=[
                {
                    "event": "far future",
                    "type": "Error",
                    "url": "https://x/",
                    "source": "x",
                    "lineNumber": 1,
                    "columnNumber": 1,
                    "stackTrace": [],
                    "timestamp": "9999-12-31T23:59:59-14:00",
                },
                {
                    "event": "far past",
                    "type": "Error",
                    "url": "https://x/",
                    "source": "x",
                    "lineNumber": 1,
                    "columnNumber": 1,
                    "stackTrace": [],
                    "timestamp": "0001-01-01T00:00:00+14:00",
                },
            ],
        )
    )
    strange_ids = ["../../x", "a\x00b", "a\nb", "\x1b[31mred\x1b[0m", "x" * 1_000_000]

    def body(n: int) -> bytes:
        kind = n % 3
        if kind == 0:
            return json.dumps(_init_body(strange_ids[n % len(strange_ids)])).encode()
        secure_id = _secure_id("strange", n)
        if kind == 1:
            with _client(source) as client:
                client.post(url, json=_init_body(secure_id))
            return json.dumps(
                {
                    **identify,
                    "variables": {
                        **identify["variables"],
                        "session_secure_id": secure_id,
                        "user_identifier": "u" * 1_000_000,
                    },
                }
            ).encode()
        with _client(source) as client:
            client.post(url, json=_init_body(secure_id))
        return json.dumps(_push_body(secure_id, NOW_MS + n, bad_times)).encode()

    _post_loop(url, source, seconds, answers, body)


def attack_reads(url: str, source: str, seconds: float, answers: Counter[str]) -> None:
    token = os.environ["HOSTILE_TOKEN"]
    secure_id = os.environ["HOSTILE_BIG_SESSION"]
    running = _deadline(seconds)
    paths = [
        f"/api/v1/sessions/{secure_id}/console",
        f"/api/v1/sessions/{secure_id}/network",
        f"/api/v1/sessions/{secure_id}/events",
        f"/ui/sessions/{secure_id}",
    ]

    def loop(offset: int) -> None:
        with _client(source, timeout=120) as client:
            n = offset
            while running():
                path = paths[n % len(paths)]
                n += 1
                try:
                    response = client.get(
                        url.rstrip("/") + path,
                        headers={"authorization": f"Bearer {token}"},
                        cookies={"footlight_ui": os.environ.get("HOSTILE_UI_COOKIE", "")},
                    )
                    answers[
                        f"{path.rsplit('/', 1)[-1] if 'api' in path else 'ui page'} "
                        f"{response.status_code}"
                    ] += 1
                except httpx.HTTPError as exc:
                    answers[f"transport error: {exc.__class__.__name__}"] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


ATTACKS: dict[str, Callable[[str, str, float, Counter[str]], None]] = {
    "idle": attack_idle,
    "slowloris": attack_slowloris,
    "slow-bodies": attack_slow_bodies,
    "properties": attack_properties,
    "legacy": attack_legacy,
    "flood": attack_flood,
    "sessions": attack_sessions,
    "eventful": attack_eventful,
    "strange": attack_strange,
    "reads": attack_reads,
}


def run_attack(name: str, url: str, source: str, seconds: float) -> int:
    resource.setrlimit(resource.RLIMIT_NOFILE, (8 * FD_LIMIT, 8 * FD_LIMIT))
    answers: Counter[str] = Counter()
    try:
        ATTACKS[name](url, source, seconds, answers)
    finally:
        print(json.dumps(dict(answers)), flush=True)
    return 0


# -- the server --------------------------------------------------------------------------------


@dataclass
class Footlight:
    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    store: str | None
    log: Path
    peak_rss_mb: float = 0.0

    def rss_mb(self) -> float:
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return 0.0
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(match.group(1)) / 1024 if match else 0.0

    def footlight(self, *args: str) -> str:
        store = ["--store", self.store] if self.store else ["--data-dir", str(self.data_dir)]
        done = subprocess.run(
            [sys.executable, "-m", "footlight", *args, *store],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()


def _lower_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def start_footlight(directory: Path, store: str | None, env: dict[str, str]) -> Footlight:
    data_dir = directory / "data"
    log = directory / "server.log"
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FOOTLIGHT_")},
        "FOOTLIGHT_STORE": store or "",
        "FOOTLIGHT_SESSION_INACTIVITY_SECONDS": "3",
        **env,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "footlight",
                "serve",
                "--port",
                "0",
                "--data-dir",
                str(data_dir),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environ,
            preexec_fn=_lower_fd_limit,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = re.search(r"listening:\s+(http://\S+)", log.read_text(errors="replace"))
        if match:
            try:
                if httpx.get(match.group(1) + "/healthz", timeout=1).status_code == 200:
                    return Footlight(process, match.group(1), data_dir, store, log)
            except httpx.HTTPError:
                pass
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise SystemExit(f"footlight did not start:\n{log.read_text(errors='replace')}")


def _big_session(server: Footlight, console_rows: int) -> str:
    """A session with many console messages and a few MB of events, for the read attack."""
    secure_id = _secure_id("big", 0)
    with _client("127.0.0.1", timeout=120) as client:
        assert _ok(client.post(server.url, json=_init_body(secure_id)))
        per_push = 20_000
        for n in range(max(1, console_rows // per_push)):
            messages = [
                {"type": "log", "time": NOW_MS + i, "value": [f"line {n}-{i}"], "trace": []}
                for i in range(per_push)
            ]
            data = _compress(
                _payload(
                    [{**META, "timestamp": NOW_MS + n}], messages=json.dumps({"messages": messages})
                )
            )
            response = client.post(server.url, json=_push_body(secure_id, NOW_MS + n, data))
            if not _ok(response):
                raise SystemExit(f"cannot fill the big session: {response.text[:300]}")
    return secure_id


# -- the run -----------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    seconds: float
    start: float = 0.0
    end: float = 0.0
    answers: dict[str, dict[str, int]] = field(default_factory=dict)
    peak_rss_mb: float = 0.0


def _spawn(
    name: str, url: str, source: str, seconds: float, env: dict[str, str]
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--attack",
            name,
            "--url",
            url,
            "--source",
            source,
            "--seconds",
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def _watch_rss(server: Footlight, stop: threading.Event, phases: list[Phase]) -> None:
    while not stop.wait(0.1):
        rss = server.rss_mb()
        server.peak_rss_mb = max(server.peak_rss_mb, rss)
        for phase in phases:
            if phase.start and not phase.end:
                phase.peak_rss_mb = max(phase.peak_rss_mb, rss)


def _verify(server: Footlight, acknowledged: list[tuple[str, int]]) -> tuple[int, int]:
    """Acknowledged pushes missing from the store, and (session, payload id) stored twice."""
    pairs = set(acknowledged)
    if server.store:
        import psycopg

        with psycopg.connect(server.store) as db:
            rows = db.execute(
                "SELECT s.secure_id, p.payload_id FROM payloads p"
                " JOIN sessions s ON s.id = p.session_id WHERE s.secure_id LIKE 'normal%'"
            ).fetchall()
    else:
        with sqlite3.connect(server.data_dir / "footlight.db") as db:
            rows = db.execute(
                "SELECT s.secure_id, p.payload_id FROM payloads p"
                " JOIN sessions s ON s.id = p.session_id WHERE s.secure_id LIKE 'normal%'"
            ).fetchall()
    stored = Counter((str(r[0]), int(r[1])) for r in rows)
    missing = sum(1 for pair in pairs if stored[pair] == 0)
    twice = sum(1 for count in stored.values() if count > 1)
    return missing, twice


def _ui_cookie(server: Footlight, token: str) -> str:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        client.post(
            "/ui/login",
            data={"token": token, "next": "/ui/sessions"},
            headers={"origin": server.url},
        )
        return client.cookies.get("footlight_ui") or ""


def _line(phase: Phase, samples: list[Sample]) -> str:
    times = [s.seconds for s in samples]
    failed = sum(1 for s in samples if not s.ok)
    return (
        f"{phase.name:<12} {len(samples):>6} {failed:>6} {_quantile(times, 0.5) * 1000:>8.1f}"
        f" {_quantile(times, 0.99) * 1000:>8.1f} {max(times, default=0) * 1000:>8.1f}"
        f" {phase.peak_rss_mb:>8.0f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--light", action="store_true", help="the short form CI runs")
    parser.add_argument("--store", default=None, help="a postgresql:// URL (default: SQLite)")
    parser.add_argument("--phase-seconds", type=float, default=None)
    parser.add_argument("--together-seconds", type=float, default=None)
    parser.add_argument("--rss-limit-mb", type=float, default=1536.0)
    parser.add_argument("--only", action="append", default=[], help="run only these attacks")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="FOOTLIGHT_X=VALUE",
        help="a setting for the server under attack (repeatable); the defaults otherwise",
    )
    parser.add_argument("--attack", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.attack:
        return run_attack(args.attack, args.url, args.source, args.seconds)

    phase_seconds = args.phase_seconds or (2.0 if args.light else 15.0)
    together_seconds = args.together_seconds or (6.0 if args.light else 60.0)
    names = args.only or list(ATTACKS)
    directory = Path(tempfile.mkdtemp(prefix="footlight-hostile-"))
    server = start_footlight(directory, args.store, dict(e.split("=", 1) for e in args.env))
    status = 1
    try:
        status = _run(server, names, phase_seconds, together_seconds, args)
    finally:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
        if status == 0:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            print(f"(kept {directory} with the server's log and store)")
    return status


def _run(
    server: Footlight,
    names: list[str],
    phase_seconds: float,
    together_seconds: float,
    args: argparse.Namespace,
) -> int:
    token = server.footlight("token", "create", "--name", "hostile")
    attack_env = {
        "HOSTILE_TOKEN": token,
        "HOSTILE_UI_COOKIE": _ui_cookie(server, token),
        "HOSTILE_BIG_SESSION": _big_session(server, 40_000 if args.light else 400_000)
        if "reads" in names
        else "",
    }
    sources = {name: f"127.0.0.{10 + i}" for i, name in enumerate(ATTACKS)}
    phases = [Phase("quiet", phase_seconds)]
    phases += [Phase(name, phase_seconds) for name in names]
    phases.append(Phase("together", together_seconds))
    phases.append(Phase("after", phase_seconds))

    normal = NormalClient(server.url)
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_rss, args=(server, stop, phases), daemon=True)
    watcher.start()
    normal.start()
    try:
        for phase in phases:
            phase.start = time.monotonic()
            attackers = names if phase.name == "together" else [phase.name]
            spawned = {
                name: _spawn(name, server.url, sources[name], phase.seconds, attack_env)
                for name in attackers
                if name in ATTACKS
            }
            if not spawned:
                time.sleep(phase.seconds)
            for name, process in spawned.items():
                out, err = process.communicate(timeout=phase.seconds + 120)
                lines = out.strip().splitlines()
                phase.answers[name] = json.loads(lines[-1]) if lines else {"crashed": 1}
                if process.returncode:
                    phase.answers[name]["attacker failed"] = process.returncode
                    print(err[-2000:], file=sys.stderr)
            phase.end = time.monotonic()
            if server.process.poll() is not None:
                break
    finally:
        normal.stop()
        stop.set()
        watcher.join()

    alive = server.process.poll() is None
    healthy = False
    errors_page = None
    if alive:
        try:
            healthy = httpx.get(server.url + "/healthz", timeout=5).status_code == 200
            errors_page = httpx.get(
                server.url + "/ui/errors",
                cookies={"footlight_ui": attack_env["HOSTILE_UI_COOKIE"]},
                timeout=30,
            ).status_code
        except httpx.HTTPError:
            pass
    missing, twice = _verify(server, normal.acknowledged)

    print(
        f"\n{'phase':<12} {'reqs':>6} {'failed':>6} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'max ms':>8} {'RSS MB':>8}"
    )
    failures: list[str] = []
    results: dict[str, Any] = {"phases": []}
    for phase in phases:
        samples = normal.window(phase.start, phase.end or time.monotonic())
        print(_line(phase, samples))
        times = [s.seconds for s in samples]
        p99 = _quantile(times, 0.99)
        failed = sum(1 for s in samples if not s.ok)
        results["phases"].append(
            {
                "name": phase.name,
                "requests": len(samples),
                "failed": failed,
                "p50_ms": _quantile(times, 0.5) * 1000,
                "p99_ms": p99 * 1000,
                "max_ms": max(times, default=0) * 1000,
                "peak_rss_mb": phase.peak_rss_mb,
                "attackers": phase.answers,
            }
        )
        if failed:
            failures.append(f"{phase.name}: {failed} of the normal client's requests failed")
        bound = SDK_GIVES_UP_S if phase.name == "together" else SDK_RETRY_WINDOW_S
        if p99 >= bound:
            failures.append(f"{phase.name}: normal client p99 {p99 * 1000:.0f} ms")
        if not samples:
            failures.append(f"{phase.name}: the normal client got no answer at all")
    print()
    for phase in phases:
        for name, answers in phase.answers.items():
            shown = ", ".join(f"{k}: {v}" for k, v in sorted(answers.items()))
            print(f"{phase.name:<12} {name:<12} {shown}")
    print(
        f"\npeak RSS {server.peak_rss_mb:.0f} MB; acknowledged pushes missing {missing},"
        f" stored twice {twice}; /healthz {'ok' if healthy else 'FAILED'};"
        f" /ui/errors {errors_page}"
    )
    if not alive:
        failures.append(f"the server died (exit {server.process.returncode})")
    elif not healthy:
        failures.append("/healthz failed after the attacks")
    if errors_page != 200:
        failures.append(f"/ui/errors answered {errors_page}")
    if server.peak_rss_mb > args.rss_limit_mb:
        failures.append(f"peak RSS {server.peak_rss_mb:.0f} MB > {args.rss_limit_mb:.0f} MB")
    if missing or twice:
        failures.append(f"{missing} acknowledged pushes missing, {twice} stored twice")
    results.update(peak_rss_mb=server.peak_rss_mb, missing=missing, twice=twice, failures=failures)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    for failure in failures:
        print(f"FAIL {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
