"""A 2xx answer means durably committed, and a crash loses at most unacknowledged work.

Concurrent clients write to a real server (payload pushes; identify and feedback), some of
them retrying writes that were already acknowledged, until the server is killed with SIGKILL
while requests are in flight. A new server on the same data directory must hold every
acknowledged write exactly once (payloads byte for byte as sent, retries not duplicated) and
take further writes for the same sessions.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest

from footlight.store import SessionRecord
from tests.helpers.graphql import (
    FEEDBACK_DOC,
    IDENTIFY_DOC,
    compress,
    gql,
    init_session,
    make_payload,
    meta_event,
    push,
)
from tests.helpers.servers import Server, http_client, start_server
from tests.helpers.store import decoded_payloads, read_session

SESSIONS = 20
WORKERS = 16
SEND_SECONDS = 2.0
ENOUGH_ACKNOWLEDGED = 150  # keep sending past SEND_SECONDS until this many (a slow machine)
GIVE_UP_SECONDS = 60.0
RETRY_SHARE = 0.2
BASE_MS = 1_795_664_479_000

Kind = Literal["push", "identify", "feedback"]

AS_FAST_AS_IT_TAKES = {
    # Sixteen threads send to twenty sessions as fast as the server answers: far past the
    # per-session rate a browser keeps (and the limit holds it to, tests/ingest/test_quotas.py),
    # which would refuse most of them once the server answers faster than ~1,200 a second.
    "FOOTLIGHT_SESSION_REQUESTS_PER_SECOND": "1000000",
    "FOOTLIGHT_SESSION_REQUEST_BURST": "1000000",
}


def payload_for(number: int) -> dict[str, Any]:
    return make_payload(events=[meta_event(ts=BASE_MS + number)])


def identifier_for(number: int) -> str:
    return f"user-{number}@example.com"


def verbatim_for(number: int) -> str:
    return f"feedback number {number}"


def rfc3339(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Write:
    """One write a client sends; its content follows from its number, so a retry is identical."""

    kind: Kind
    secure_id: str
    number: int

    def send(self, client: httpx.Client) -> httpx.Response:
        if self.kind == "push":
            # A fresh gzip header each time: the bytes differ, the content does not.
            data = compress(payload_for(self.number), mtime=random.randrange(1, 2**31))
            return push(client, self.secure_id, self.number, data)
        if self.kind == "identify":
            variables = {
                "session_secure_id": self.secure_id,
                "user_identifier": identifier_for(self.number),
                "user_object": {"plan": f"plan-{self.number}"},
            }
            return gql(client, IDENTIFY_DOC, variables, "identifySession")
        variables = {
            "session_secure_id": self.secure_id,
            "verbatim": verbatim_for(self.number),
            "timestamp": rfc3339(BASE_MS + self.number),
            "user_name": "Ada",
            "user_email": "ada@example.com",
        }
        return gql(client, FEEDBACK_DOC, variables, "addSessionFeedback")


def acknowledged(response: httpx.Response) -> bool:
    if response.status_code != 200:
        return False
    body = response.json()
    return "errors" not in body and bool(body.get("data"))


class Traffic:
    """Writes sent by many threads: new ones, and retries of acknowledged ones."""

    def __init__(self, kinds: list[Kind], secure_ids: list[str]) -> None:
        self.kinds = kinds
        self.secure_ids = secure_ids
        self.acknowledged: list[Write] = []
        self.retries_acknowledged = 0
        self.refused: list[str] = []
        self.cut_off = 0
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def next_write(self) -> tuple[Write, bool]:
        with self._lock:
            if self.acknowledged and random.random() < RETRY_SHARE:
                return random.choice(self.acknowledged), True
            number = next(self._numbers)
            secure_id = self.secure_ids[number % len(self.secure_ids)]
            kind = self.kinds[(number // len(self.secure_ids)) % len(self.kinds)]
            return Write(kind, secure_id, number), False

    def keep_sending(self, url: str) -> None:
        """Send writes one after another until the server is gone."""
        with http_client(base_url=url, timeout=30) as client:
            while True:
                write, is_retry = self.next_write()
                try:
                    response = write.send(client)
                except httpx.ConnectError:
                    return
                except httpx.TransportError:
                    with self._lock:
                        self.cut_off += 1
                    return
                with self._lock:
                    if not acknowledged(response):
                        self.refused.append(f"{response.status_code} {response.text[:200]}")
                    elif is_retry:
                        self.retries_acknowledged += 1
                    else:
                        self.acknowledged.append(write)

    def count_acknowledged(self) -> int:
        with self._lock:
            return len(self.acknowledged)

    def of(self, kind: Kind, secure_id: str) -> list[Write]:
        return [w for w in self.acknowledged if w.kind == kind and w.secure_id == secure_id]


def send_until_killed(server: Server, traffic: Traffic) -> None:
    """Send from WORKERS threads for SEND_SECONDS (longer until ENOUGH_ACKNOWLEDGED), then
    SIGKILL the server while they are still sending, and wait for every thread to notice."""
    with ThreadPoolExecutor(WORKERS) as pool:
        workers = [pool.submit(traffic.keep_sending, server.url) for _ in range(WORKERS)]
        started = time.monotonic()
        while not all(w.done() for w in workers):
            elapsed = time.monotonic() - started
            if elapsed >= GIVE_UP_SECONDS or (
                elapsed >= SEND_SECONDS and traffic.count_acknowledged() >= ENOUGH_ACKNOWLEDGED
            ):
                break
            time.sleep(0.05)
        server.kill()
        for worker in workers:
            worker.result()  # a worker's unexpected exception fails the test here


def report(traffic: Traffic, capsys: pytest.CaptureFixture[str]) -> None:
    """Show in the CI log, past pytest's capture, how much work the test really did."""
    with capsys.disabled():
        print(
            f"\n  acknowledged {len(traffic.acknowledged)} writes before SIGKILL"
            f" ({traffic.retries_acknowledged} acknowledged retries,"
            f" {traffic.cut_off} requests cut off by the kill)"
        )
    assert traffic.refused == []
    assert len(traffic.acknowledged) > 100
    assert traffic.retries_acknowledged > 0
    assert traffic.cut_off > 0, "the kill found no request in flight: it proved nothing"


def start_sessions(server: Server) -> list[str]:
    with http_client(base_url=server.url, timeout=30) as client:
        return [init_session(client) for _ in range(SESSIONS)]


def stored(server: Server, secure_id: str) -> SessionRecord:
    record = read_session(server.data_dir, secure_id)
    assert record is not None, f"session {secure_id} is gone"
    return record


def send_once_more(server: Server, traffic: Traffic, kind: Kind) -> list[Write]:
    """One new write of `kind` per session; each must be acknowledged."""
    writes = [Write(kind, s, 10_000_000 + n) for n, s in enumerate(traffic.secure_ids)]
    with http_client(base_url=server.url, timeout=30) as client:
        for write in writes:
            response = write.send(client)
            assert acknowledged(response), response.text
    return writes


# -- payloads ----------------------------------------------------------------------------------


def assert_payloads_kept(server: Server, traffic: Traffic, secure_id: str) -> None:
    record = stored(server, secure_id)
    ids = [p.payload_id for p in record.payloads]
    duplicates = [pid for pid, count in Counter(ids).items() if count > 1]
    assert duplicates == [], f"{secure_id}: payload ids stored more than once"
    for payload_id, content in zip(ids, decoded_payloads(record), strict=True):
        assert content == payload_for(payload_id), f"{secure_id}: payload {payload_id} differs"
    missing = {w.number for w in traffic.of("push", secure_id)} - set(ids)
    assert missing == set(), f"{secure_id}: acknowledged payloads lost"


def test_every_acknowledged_payload_survives_sigkill_exactly_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], backend: str
) -> None:
    server = start_server(tmp_path / "data", backend=backend, env=AS_FAST_AS_IT_TAKES)
    try:
        traffic = Traffic(["push"], start_sessions(server))
        send_until_killed(server, traffic)
    finally:
        server.kill()
    report(traffic, capsys)

    restarted = start_server(server.data_dir, backend=backend, env=AS_FAST_AS_IT_TAKES)
    try:
        for secure_id in traffic.secure_ids:
            assert_payloads_kept(restarted, traffic, secure_id)

        for write in send_once_more(restarted, traffic, "push"):
            assert write.number in [
                p.payload_id for p in stored(restarted, write.secure_id).payloads
            ]
    finally:
        restarted.stop()


# -- identify and feedback ---------------------------------------------------------------------


def assert_identities_and_feedback_kept(server: Server, traffic: Traffic, secure_id: str) -> None:
    record = stored(server, secure_id)
    identifiers = {f.value for f in record.fields if (f.kind, f.key) == ("user", "identifier")}
    verbatims = Counter(f.verbatim for f in record.feedback)

    for write in traffic.of("identify", secure_id):
        assert identifier_for(write.number) in identifiers, f"{secure_id}: identify lost"
    for write in traffic.of("feedback", secure_id):
        assert verbatims[verbatim_for(write.number)] == 1, f"{secure_id}: feedback lost"
    assert [v for v, count in verbatims.items() if count > 1] == [], "feedback stored twice"


def test_every_acknowledged_identify_and_feedback_survives_sigkill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], backend: str
) -> None:
    server = start_server(tmp_path / "data", backend=backend, env=AS_FAST_AS_IT_TAKES)
    try:
        traffic = Traffic(["identify", "feedback"], start_sessions(server))
        send_until_killed(server, traffic)
    finally:
        server.kill()
    report(traffic, capsys)

    restarted = start_server(server.data_dir, backend=backend, env=AS_FAST_AS_IT_TAKES)
    try:
        for secure_id in traffic.secure_ids:
            assert_identities_and_feedback_kept(restarted, traffic, secure_id)

        identified = send_once_more(restarted, traffic, "identify")
        answered = send_once_more(restarted, traffic, "feedback")
        for write in identified:
            record = stored(restarted, write.secure_id)
            assert record.session.identifier == identifier_for(write.number)
        for write in answered:
            record = stored(restarted, write.secure_id)
            assert verbatim_for(write.number) in [f.verbatim for f in record.feedback]
    finally:
        restarted.stop()
