"""The hostile soak's clients: how each talks to footlight, and the normal client.

Every client of bench/hostile.py speaks from its own loopback address (127.0.0.N: each is
a different client to footlight's per-client limits), so each builds its connections here.
The normal client is a few browser tabs doing what highlight.run does the whole time; its
latencies, per phase, are what the soak reports, and the pushes it saw acknowledged are what
is checked in the store afterwards.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from payloads import captured, init_body, push_body, with_variables

NOW_MS = int(time.time() * 1000)
META = {"type": 4, "data": {"href": "https://shop.example/", "width": 1280, "height": 800}}


def new_secure_id(prefix: str, n: int) -> str:
    """A session id of the SDK's length, unique to this process."""
    return f"{prefix}{os.getpid():x}{n:x}{os.urandom(6).hex()}"[:28].ljust(28, "x")


def client_from(address: str, timeout: float = 30.0) -> httpx.Client:
    """A client whose connections come from `address` (127.0.0.N), never retried."""
    transport = httpx.HTTPTransport(local_address=address, retries=0)
    return httpx.Client(transport=transport, timeout=timeout, headers={"accept": "*/*"})


def answered_ok(response: httpx.Response) -> bool:
    """Whether a GraphQL call was answered with data and no errors."""
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
            ok = answered_ok(client.post(self.url, json=body))
        except httpx.HTTPError:
            ok = False
        self.samples.append(Sample(started, time.monotonic() - started, ok, what))
        return ok

    def _tab(self, tab: int) -> None:
        pushes = [p["variables"]["data"] for p in captured("PushSessionEvents")]
        identify = captured("identifySession")[0]
        properties = captured("addSessionProperties")[0]
        with client_from("127.0.0.1", timeout=60) as client:
            while not self._stop.is_set():
                secure_id = new_secure_id(f"normal{tab}", 0)
                if not self._timed(client, "initializeSession", init_body(secure_id)):
                    self._stop.wait(self.interval)
                    continue
                for n in range(40):
                    if self._stop.wait(self.interval):
                        return
                    payload_id = NOW_MS + tab * 1_000_000 + n
                    body = push_body(secure_id, payload_id, pushes[n % len(pushes)])
                    if self._timed(client, "push", body):
                        self.acknowledged.append((secure_id, payload_id))
                    if n == 3:
                        body = with_variables(identify, session_secure_id=secure_id)
                        self._timed(client, "identify", body)
                    if n == 5:
                        body = with_variables(properties, session_secure_id=secure_id)
                        self._timed(client, "properties", body)

    def window(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.at < end]


def quantile(values: list[float], q: float) -> float:
    """The `q` quantile of `values`, interpolated; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = q * (len(ordered) - 1)
    low = int(index)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (index - low)
