"""The hostile soak's attacks: what a stranger may send footlight's public endpoint.

Each attack runs in its own process (`hostile.py --attack NAME`), from its own loopback
address, for a given time, counting what it was answered; bench/hostile.py runs them one
at a time and then all together beside its normal client. `big_session` builds, before the
run, the session the `reads` attack reads.
"""

from __future__ import annotations

import base64
import json
import os
import re
import resource
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from hostile_clients import META, NOW_MS, answered_ok, client_from, new_secure_id
from nodes import Node
from payloads import captured, compress, init_body, payload, push_body, with_variables

FD_LIMIT = 1024
"""The server's open-file limit in the soak: the idle attack holds three times as many."""


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
        with client_from(source, timeout=30) as client:
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
                    label += " ok" if answered_ok(response) else " with errors"
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


def _pushes_of(secure_id: str, data: str) -> Callable[[int], bytes]:
    """The same push under a new payload id each time: every one is stored again."""
    template = json.dumps(push_body(secure_id, 0, data)).replace(
        '"payload_id": "0"', '"payload_id": "@PID@"'
    )
    return lambda n: template.replace("@PID@", str(NOW_MS + n)).encode()


def _new_session(url: str, source: str, prefix: str) -> str:
    secure_id = new_secure_id(prefix, 0)
    with client_from(source) as client:
        response = client.post(url, json=init_body(secure_id))
    if not answered_ok(response):
        raise SystemExit(f"cannot create a session for the attack: {response.text[:300]}")
    return secure_id


def attack_properties(url: str, source: str, seconds: float, answers: Counter[str]) -> None:
    secure_id = _new_session(url, source, "props")
    document = captured("addSessionProperties")[0]
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
    variables = {"session_secure_id": secure_id, **payload(events)}
    template = json.dumps({"query": query, "variables": {**variables, "payload_id": "@PID@"}})

    def body(n: int) -> bytes:
        return template.replace('"@PID@"', str(n)).encode()

    _post_loop(url, source, seconds, answers, body, connections=2)


def attack_flood(url: str, source: str, seconds: float, answers: Counter[str]) -> None:
    secure_id = _new_session(url, source, "flood")
    # ~11.5 MiB of base64: incompressible text inside a valid payload.
    noise = base64.b64encode(os.urandom(6 * 1024 * 1024)).decode()
    data = compress(
        payload(
            [{**META, "timestamp": NOW_MS}],
            messages=json.dumps({"messages": [{"type": "log", "time": NOW_MS, "value": [noise]}]}),
        )
    )
    body = _pushes_of(secure_id, data)
    _post_loop(url, source, seconds, answers, body, connections=4)


def attack_sessions(url: str, source: str, seconds: float, answers: Counter[str]) -> None:
    def body(n: int) -> bytes:
        return json.dumps(init_body(new_secure_id("new", n))).encode()

    _post_loop(url, source, seconds, answers, body, connections=4)


def attack_eventful(url: str, source: str, seconds: float, answers: Counter[str]) -> None:
    secure_id = _new_session(url, source, "eventful")
    tiny = [{"type": 3, "timestamp": NOW_MS, "data": {}}] * 2_000_000
    data = compress(payload([{**META, "timestamp": NOW_MS}, *tiny]))
    body = _pushes_of(secure_id, data)
    _post_loop(url, source, seconds, answers, body, connections=2)


def _error(event: str, timestamp: str) -> dict[str, Any]:
    """An error as the SDK reports it, at `timestamp` (an ISO 8601 text)."""
    return {
        "event": event,
        "type": "Error",
        "url": "https://x/",
        "source": "x",
        "lineNumber": 1,
        "columnNumber": 1,
        "stackTrace": [],
        "timestamp": timestamp,
    }


def attack_strange(url: str, source: str, seconds: float, answers: Counter[str]) -> None:
    identify = captured("identifySession")[0]
    bad_times = compress(
        payload(
            [{**META, "timestamp": NOW_MS}],
            errors=[
                _error("far future", "9999-12-31T23:59:59-14:00"),
                _error("far past", "0001-01-01T00:00:00+14:00"),
            ],
        )
    )
    strange_ids = ["../../x", "a\x00b", "a\nb", "\x1b[31mred\x1b[0m", "x" * 1_000_000]

    def body(n: int) -> bytes:
        kind = n % 3
        if kind == 0:
            return json.dumps(init_body(strange_ids[n % len(strange_ids)])).encode()
        secure_id = new_secure_id("strange", n)
        if kind == 1:
            with client_from(source) as client:
                client.post(url, json=init_body(secure_id))
            long_user = with_variables(
                identify, session_secure_id=secure_id, user_identifier="u" * 1_000_000
            )
            return json.dumps(long_user).encode()
        with client_from(source) as client:
            client.post(url, json=init_body(secure_id))
        return json.dumps(push_body(secure_id, NOW_MS + n, bad_times)).encode()

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
        with client_from(source, timeout=120) as client:
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


def big_session(server: Node, console_rows: int) -> str:
    """A session with many console messages and a few MB of events, for the read attack."""
    secure_id = new_secure_id("big", 0)
    with client_from("127.0.0.1", timeout=120) as client:
        assert answered_ok(client.post(server.url, json=init_body(secure_id)))
        per_push = 20_000
        for n in range(max(1, console_rows // per_push)):
            messages = [
                {"type": "log", "time": NOW_MS + i, "value": [f"line {n}-{i}"], "trace": []}
                for i in range(per_push)
            ]
            data = compress(
                payload(
                    [{**META, "timestamp": NOW_MS + n}], messages=json.dumps({"messages": messages})
                )
            )
            response = client.post(server.url, json=push_body(secure_id, NOW_MS + n, data))
            if not answered_ok(response):
                raise SystemExit(f"cannot fill the big session: {response.text[:300]}")
    return secure_id
