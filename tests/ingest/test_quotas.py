"""Rate limits and quotas, over real HTTP against a real `footlight serve`, on both stores.

Proven here:

* the reported attack (one client, 4 connections, one large payload pushed again and again
  under new payload ids) is cut to the configured rate with 429 + Retry-After soon after it
  starts, with the defaults too, and what it stored stays within the bound;
* the real SDK's captured traffic, replayed at its real pace by many tabs behind one
  address, and a 10 MB FullSnapshot push sent four times (the SDK's retries) followed by
  the next pushes, are never refused by the defaults;
* each limit alone refuses with 429, `Retry-After`, a GraphQL error naming its setting and
  `extensions.code`, and lets the request through once `Retry-After` has passed: session
  requests and bytes, project requests and bytes, new sessions per project and per client,
  per-client requests and bytes (before the body is parsed, on OTLP too), X-Forwarded-For
  from a trusted proxy versus an untrusted peer (logged once), the session size cap (also
  exact across two nodes), daily quotas set with the CLI (also shared by two nodes on one
  PostgreSQL database);
* a refusal writes nothing, and refusals are counted per project (`footlight project usage`).
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from footlight.config import Limits, MiB
from tests.helpers.cli import footlight
from tests.helpers.graphql import (
    IDENTIFY_DOC,
    INIT_DOC,
    gql,
    init_session,
    init_variables,
    make_payload,
    meta_event,
    new_secure_id,
    push,
)
from tests.helpers.paths import FIXTURES
from tests.helpers.servers import Server, http_client, start_server
from tests.helpers.store import db_rows, fresh_database

SAMPLING = (
    'query GetSamplingConfig { sampling(organization_verbose_id: "1") { spans { samplingRatio } } }'
)


@contextmanager
def limited(
    tmp_path: Path,
    backend: str,
    name: str = "data",
    *,
    store_url: str | None = None,
    args: tuple[str, ...] = (),
    **settings: Any,
) -> Iterator[Server]:
    """A server with every limit at its default except `settings` (attribute names)."""
    env = {f"FOOTLIGHT_{key.upper()}": str(value) for key, value in settings.items()}
    env.setdefault("FOOTLIGHT_QUOTA_SYNC_SECONDS", "0.2")
    server = start_server(
        tmp_path / name,
        env=env,
        backend=backend,
        store_url=store_url,
        args=list(args),
        client_limits=True,
    )
    try:
        yield server
    finally:
        server.stop()


def incompressible_payload(request_bytes: int, full_snapshot: bool = True) -> str:
    """The `data` of a push whose request body is about `request_bytes`: a FullSnapshot whose
    DOM holds random base64 text (an inlined image does that), so gzip barely shrinks it."""
    # gzip takes random base64 text back to ~3/4 of its size, and base64 of that is 4/3 of
    # it again: the push's `data` is about as long as the text.
    text_bytes = int(request_bytes * 0.99) - 1000
    text = base64.b64encode(os.urandom(text_bytes * 3 // 4)).decode()
    event: dict[str, Any] = {
        "type": 2 if full_snapshot else 3,
        "timestamp": 1_795_664_479_100,
        "data": {
            "node": {"type": 0, "id": 1, "childNodes": [{"type": 3, "id": 2, "textContent": text}]},
            "initialOffset": {"left": 0, "top": 0},
        },
    }
    payload = make_payload(events=[meta_event(), event])
    return base64.b64encode(gzip.compress(msgspec.json.encode(payload), 1)).decode()


def small_data(n: int = 0) -> str:
    payload = make_payload(events=[meta_event(ts=1_795_664_479_000 + n)])
    return base64.b64encode(gzip.compress(msgspec.json.encode(payload))).decode()


def first_error(response: httpx.Response) -> dict[str, Any]:
    errors = response.json()["errors"]
    assert errors, response.text
    return dict(errors[0])


def assert_refused(response: httpx.Response, limit: str, code: str = "RATE_LIMITED") -> int:
    """A 429 naming `limit`; returns its Retry-After."""
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1
    error = first_error(response)
    assert error["extensions"]["code"] == code, error
    assert error["extensions"]["limit"] == limit, error
    assert error["extensions"]["retry_after"] == retry_after
    if code == "QUOTA_EXCEEDED":
        # The one message highlight.run does not retry; the explanation is beside it.
        assert error["message"] == "BillingQuotaExceeded"
        assert f"(limit: {limit}" in error["extensions"]["detail"]
    else:
        assert f"(limit: {limit})" in error["message"], error
    return retry_after


def payload_rows(server: Server, secure_id: str) -> tuple[int, int, int]:
    """(payloads stored, their bytes, the session's counted stored bytes) of a session."""
    rows = db_rows(
        server.data_dir,
        "SELECT count(p.seq), coalesce(sum(length(p.body)), 0),"
        " (SELECT z.stored_bytes FROM session_sizes z WHERE z.session_id = s.id)"
        " FROM sessions s LEFT JOIN payloads p ON p.session_id = s.id WHERE s.secure_id = ?"
        " GROUP BY s.id",
        (secure_id,),
    )
    count, size, stored = rows[0]
    return int(count), int(size), int(stored)


def refusals(server: Server) -> dict[tuple[int, str], int]:
    """Refusals counted in the store, per (project, limit). Stop the server first: it adds
    its last counts when it stops."""
    rows = db_rows(
        server.data_dir,
        "SELECT project_id, kind, sum(count) FROM project_usage"
        " WHERE substr(kind, 1, 8) = 'refused:' GROUP BY project_id, kind",
    )
    return {(int(p), str(k).removeprefix("refused:")): int(n) for p, k, n in rows}


def push_data(client: httpx.Client, secure_id: str, payload_id: int, data: str) -> httpx.Response:
    return push(client, secure_id, payload_id, data)


# -- the reported attack -------------------------------------------------------------------------


def _attack(
    server: Server, secure_id: str, data: str, threads: int, requests: int
) -> tuple[list[httpx.Response], float]:
    """`threads` connections pushing `data` under new payload ids, `requests` times in all
    (by count rather than for a time: how fast this machine inflates and writes them must
    not decide how far into the attack the test looks)."""
    responses: list[httpx.Response] = []
    lock = threading.Lock()
    ids = iter(range(1, requests + 1))
    started = time.monotonic()

    def hammer() -> None:
        with http_client(base_url=server.url, timeout=60) as client:
            while True:
                with lock:
                    payload_id = next(ids, None)
                if payload_id is None:
                    return
                response = push_data(client, secure_id, payload_id, data)
                with lock:
                    responses.append(response)

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(hammer) for _ in range(threads)]:
            future.result()
    return responses, time.monotonic() - started


def test_the_attack_is_cut_to_the_session_byte_rate(tmp_path: Path, backend: str) -> None:
    rate, burst = 512 * 1024, 4 * MiB
    with limited(
        tmp_path,
        backend,
        session_bytes_per_second=rate,
        session_byte_burst=burst,
        client_bytes_per_second=0,  # this client's own limit would cut it too
    ) as server:
        with http_client(base_url=server.url, timeout=60) as client:
            secure_id = init_session(client)
        data = incompressible_payload(1 * MiB)
        responses, elapsed = _attack(server, secure_id, data, threads=4, requests=16)
        request_bytes = max(len(r.request.content) for r in responses)
        accepted = [r for r in responses if r.status_code == 200]
        refused = [r for r in responses if r.status_code == 429]
        assert accepted, [r.status_code for r in responses]
        assert refused, [r.status_code for r in responses]
        assert len(accepted) + len(refused) == len(responses)
        for response in refused:
            wait = assert_refused(response, "session_bytes_per_second")
            # A 1 MiB push waits for ~1.3 MiB of credit at 512 KiB/s: at most 3 s.
            assert wait <= math.ceil(request_bytes / rate)
        # Admitted: the burst, what the rate refilled meanwhile, and one request admitted
        # into debt at most (a bucket admits what it holds).
        assert len(accepted) * request_bytes <= burst + rate * elapsed + request_bytes
        count, size, stored = payload_rows(server, secure_id)
        assert count == len(accepted)  # refusals wrote nothing
        assert size == stored <= len(accepted) * len(base64.b64decode(data))
        # The session's Retry-After is honest: after it, the next push goes through. It is
        # read off a refusal made alone: the attack's last refusal may be older than a push
        # another connection admitted after it, which its wait could not know about.
        with http_client(base_url=server.url, timeout=60) as client:
            probe_ids = iter(range(10**8, 10**8 + burst // len(data) + 2))
            probe = push_data(client, secure_id, next(probe_ids), data)
            while probe.status_code == 200:  # the bucket holds at most a burst
                probe = push_data(client, secure_id, next(probe_ids), data)
            time.sleep(assert_refused(probe, "session_bytes_per_second"))
            assert push_data(client, secure_id, 2 * 10**8, data).status_code == 200
    counted = refusals(server)
    assert counted == {(1, "session_bytes_per_second"): len(refused) + 1}


def test_the_defaults_stop_the_reported_attack(tmp_path: Path, backend: str) -> None:
    """One client, 4 connections, an 11.5 MiB payload under new payload ids, as reported
    (56 MiB/s stored before limits existed)."""
    defaults = Limits()
    with limited(tmp_path, backend) as server:
        with http_client(base_url=server.url, timeout=60) as client:
            secure_id = init_session(client)
        data = incompressible_payload(int(11.5 * MiB))
        responses, elapsed = _attack(server, secure_id, data, threads=4, requests=12)
        request_bytes = max(len(r.request.content) for r in responses)
        statuses = [r.status_code for r in responses]
        assert set(statuses) == {200, 429}, statuses
        # Cut soon after it starts: the session's 64 MiB burst holds five such pushes.
        first_refusal = statuses.index(429)
        assert first_refusal <= defaults.session_byte_burst // request_bytes + 4, statuses
        # By the session's limit or the client's: both hold the same 64 MiB burst, and the
        # client pays for every request it sends (refused ones too), so which one runs dry
        # first depends on how fast the pushes arrive.
        limits = {first_error(r)["extensions"]["limit"] for r in responses if r.status_code == 429}
        assert limits
        assert limits <= {"session_bytes_per_second", "client_bytes_per_second"}
        accepted = statuses.count(200)
        assert (
            accepted * request_bytes
            <= defaults.session_byte_burst
            + defaults.session_bytes_per_second * elapsed
            + request_bytes
        )
        count, size, stored = payload_rows(server, secure_id)
        assert count == accepted
        assert size == stored


# -- what the real SDK sends is never refused --------------------------------------------------

# When each request of the capture (tests/fixtures, by `seq`) was sent, in ms from the
# first, as the real highlight.run 10.7.5 sent them (capture/highlight-run-10.7.5.jsonl).
CAPTURED_AT_MS = {
    2: 20, 3: 255, 4: 1119, 5: 3107, 6: 3546, 7: 3659, 10: 5103, 11: 7107,
    16: 7654, 17: 7930, 18: 7961, 19: 8807, 20: 10765,
}  # fmt: skip
# The OTLP exports of the same run: (ms, signal).
OTLP_AT_MS = [
    (5017, "traces"),
    (7370, "traces"),
    (7423, "metrics"),
    (7435, "metrics"),
    (10961, "traces"),
    (10970, "metrics"),
    (10980, "metrics"),
]


def _captured_tab(url: str, tab: int) -> list[int]:
    """One tab replaying the captured SDK traffic at its real pace with its own session."""
    captured = [
        json.loads(line)
        for line in (FIXTURES / "highlight-run-10.7.5-requests.jsonl").read_text().splitlines()
    ]
    secure_id = f"tab{tab:03d}" + new_secure_id()[6:]
    schedule: list[tuple[int, str, bytes, dict[str, str]]] = []
    for request in captured:
        body = request["body"]
        variables = dict(body["variables"])
        variables["session_secure_id"] = secure_id
        if "organization_verbose_id" in variables:
            variables["organization_verbose_id"] = "1"
        content = json.dumps({**body, "variables": variables}).encode()
        schedule.append((CAPTURED_AT_MS[request["seq"]], "/", content, request["headers"]))
    for at, signal in OTLP_AT_MS:
        content = (FIXTURES / f"otlp-{signal}.json").read_bytes()
        schedule.append((at, f"/v1/{signal}", content, {"content-type": "application/json"}))
    statuses = []
    started = time.monotonic()
    with http_client(base_url=url, timeout=30) as client:
        for at, path, content, headers in sorted(schedule, key=lambda s: s[0]):
            pause = started + at / 1000 - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            response = client.post(path, content=content, headers=headers)
            statuses.append(response.status_code)
            if response.status_code == 200 and path == "/":
                assert "errors" not in response.json(), response.text
    return statuses


def test_captured_sdk_tabs_at_their_real_pace_are_never_refused(
    tmp_path: Path, backend: str
) -> None:
    """Twenty tabs behind one address (one office, one NAT) start together and run the
    captured session (two page loads, 11 s) at the SDK's real pace, OTLP included."""
    with limited(tmp_path, backend) as server, ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda tab: _captured_tab(server.url, tab), range(20)))
    assert all(status == 200 for statuses in results for status in statuses), results


def test_a_10_mb_full_snapshot_and_its_retries_are_never_refused(
    tmp_path: Path, backend: str
) -> None:
    """The heaviest first push a page plausibly makes, sent four times as the SDK does
    when the first attempts fail (and at once, which the SDK never does), then the page's
    next pushes and a reload: all accepted with the defaults."""
    data = incompressible_payload(10 * 1000 * 1000)
    with (
        limited(tmp_path, backend) as server,
        http_client(base_url=server.url, timeout=60) as client,
    ):
        secure_id = init_session(client)
        for _attempt in range(4):
            response = push_data(client, secure_id, 1_795_664_480_408, data)
            assert response.status_code == 200, response.text
        for n in range(1, 6):
            response = push_data(client, secure_id, 1_795_664_480_408 + 2000 * n, small_data(n))
            assert response.status_code == 200, response.text
        init_session(client, secure_id)  # the next page load re-initializes it
        response = push_data(client, secure_id, 1_795_664_499_000, data)
        assert response.status_code == 200, response.text
        count, _size, _ = payload_rows(server, secure_id)
        assert count == 7


# -- each limit alone ------------------------------------------------------------------------


def test_session_requests(tmp_path: Path, backend: str) -> None:
    with (
        limited(
            tmp_path, backend, session_requests_per_second=1, session_request_burst=3
        ) as server,
        http_client(base_url=server.url, timeout=30) as client,
    ):
        busy, other = init_session(client), init_session(client)
        for n in range(3):
            assert push_data(client, busy, n + 1, small_data(n)).status_code == 200
        refused = push_data(client, busy, 4, small_data(4))
        wait = assert_refused(refused, "session_requests_per_second")
        assert "session 't" in first_error(refused)["message"]
        # Other requests of the session count too; other sessions do not.
        identify = gql(
            client,
            IDENTIFY_DOC,
            {"session_secure_id": busy, "user_identifier": "ada", "user_object": {}},
            "identifySession",
        )
        assert_refused(identify, "session_requests_per_second")
        assert push_data(client, other, 1, small_data()).status_code == 200
        assert payload_rows(server, busy)[0] == 3
        time.sleep(wait)
        assert push_data(client, busy, 4, small_data(4)).status_code == 200


def test_project_requests_and_bytes(tmp_path: Path, backend: str) -> None:
    with (
        limited(
            tmp_path,
            backend,
            project_requests_per_second=0.5,
            project_request_burst=6,
            project_bytes_per_second=1000,
            project_byte_burst=200_000,
        ) as server,
        http_client(base_url=server.url, timeout=30) as client,
    ):
        assert footlight(server, "project", "create", "other").returncode == 0
        one, two = init_session(client), init_session(client)  # project 1: 2 requests
        answers = [push_data(client, s, n, small_data(n)) for n in (1, 2) for s in (one, two)]
        assert [a.status_code for a in answers] == [200] * 4
        assert_refused(push_data(client, one, 3, small_data(3)), "project_requests_per_second")
        # Another project has buckets of its own.
        other = init_session(client, project="2")
        assert push_data(client, other, 1, small_data()).status_code == 200
        # Bytes: the burst takes one such push, and the rate no second one for minutes.
        big = incompressible_payload(180_000, full_snapshot=False)
        assert push_data(client, other, 2, big).status_code == 200
        refused = push_data(client, other, 3, big)
        assert_refused(refused, "project_bytes_per_second")
        assert payload_rows(server, other)[0] == 2
    assert refusals(server) == {
        (1, "project_requests_per_second"): 1,
        (2, "project_bytes_per_second"): 1,
    }


def test_new_sessions_per_project(tmp_path: Path, backend: str) -> None:
    with (
        limited(
            tmp_path, backend, project_new_sessions_per_second=0.01, project_new_session_burst=2
        ) as server,
        http_client(base_url=server.url, timeout=30) as client,
    ):
        assert footlight(server, "project", "create", "other").returncode == 0
        first, _second = init_session(client), init_session(client)
        refused = gql(client, INIT_DOC, init_variables(new_secure_id()), "initializeSession")
        assert_refused(refused, "project_new_sessions_per_second")
        # A reload re-initializes an existing session: that starts nothing, and passes.
        assert init_session(client, first) == first
        init_session(client, project="2")
        sessions = db_rows(server.data_dir, "SELECT count(*) FROM sessions")[0][0]
        assert sessions == 3  # the refused one was not created


def test_new_sessions_per_client(tmp_path: Path, backend: str) -> None:
    with (
        limited(
            tmp_path,
            backend,
            client_new_sessions_per_second=0.01,
            client_new_session_burst=2,
            trusted_proxies="127.0.0.1",
        ) as server,
        http_client(base_url=server.url, timeout=30) as client,
    ):
        alice = {"x-forwarded-for": "198.51.100.1"}
        for _ in range(2):
            response = gql(
                client,
                INIT_DOC,
                init_variables(new_secure_id()),
                "initializeSession",
                headers=alice,
            )
            assert response.status_code == 200
        refused = gql(
            client, INIT_DOC, init_variables(new_secure_id()), "initializeSession", headers=alice
        )
        assert_refused(refused, "client_new_sessions_per_second")
        assert "client 198.51.100.1 " in first_error(refused)["message"]
        bob = {"x-forwarded-for": "198.51.100.2"}
        response = gql(
            client, INIT_DOC, init_variables(new_secure_id()), "initializeSession", headers=bob
        )
        assert response.status_code == 200


def test_client_requests_before_the_body_is_parsed(tmp_path: Path, backend: str) -> None:
    with (
        limited(
            tmp_path, backend, client_requests_per_second=0.5, client_request_burst=3
        ) as server,
        http_client(base_url=server.url, timeout=30) as client,
    ):
        secure_id = init_session(client)
        assert push_data(client, secure_id, 1, small_data()).status_code == 200
        assert client.post("/", json={"query": SAMPLING}).status_code == 200
        # Any request counts, even one that is not GraphQL at all; and the refusal is
        # answered before it is parsed.
        refused = client.post(
            "/", content=b"{not json", headers={"content-type": "application/json"}
        )
        wait = assert_refused(refused, "client_requests_per_second")
        assert "client 127.0.0.1 " in first_error(refused)["message"]
        assert refused.headers["content-type"].startswith("application/graphql-response+json")
        otlp = client.post(
            "/v1/traces",
            content=(FIXTURES / "otlp-traces.json").read_bytes(),
            headers={"content-type": "application/json"},
        )
        assert_refused(otlp, "client_requests_per_second")
        assert db_rows(server.data_dir, "SELECT count(*) FROM otlp_batches")[0][0] == 0
        time.sleep(wait)
        assert client.post("/", json={"query": SAMPLING}).status_code == 200
    # Refused before any project was known, but this client sends to project 1.
    assert refusals(server) == {(1, "client_requests_per_second"): 2}


def test_client_bytes(tmp_path: Path, backend: str) -> None:
    with (
        limited(
            tmp_path, backend, client_bytes_per_second=10_000, client_byte_burst=100_000
        ) as server,
        http_client(base_url=server.url, timeout=30) as client,
    ):
        big = (FIXTURES / "otlp-traces.json").read_bytes() * 3  # not even valid: not read
        otlp = [
            client.post("/v1/traces", content=big, headers={"content-type": "application/json"})
            for _ in range(4)
        ]
        refused = [r for r in otlp if r.status_code == 429]
        assert refused, [r.status_code for r in otlp]
        assert_refused(refused[0], "client_bytes_per_second")
    assert refusals(server) == {(0, "client_bytes_per_second"): len(refused)}


def test_forwarded_for_counts_only_from_trusted_proxies(tmp_path: Path, backend: str) -> None:
    def exhaust_then_try_another(server: Server) -> httpx.Response:
        with http_client(base_url=server.url, timeout=30) as client:
            one = {"x-forwarded-for": "203.0.113.9, 198.51.100.1"}
            statuses = [
                client.post("/", json={"query": SAMPLING}, headers=one).status_code
                for _ in range(3)
            ]
            assert statuses == [200, 200, 429]
            two = {"x-forwarded-for": "198.51.100.2"}
            return client.post("/", json={"query": SAMPLING}, headers=two)

    settings: dict[str, Any] = {"client_requests_per_second": 0.01, "client_request_burst": 2}
    with limited(tmp_path, backend, "trusted", trusted_proxies="127.0.0.1/8", **settings) as server:
        assert exhaust_then_try_another(server).status_code == 200
    assert "X-Forwarded-For" not in server.log()
    with limited(tmp_path, backend, "untrusted", **settings) as server:
        # The header is anyone's to write: both requests are the peer's.
        assert_refused(exhaust_then_try_another(server), "client_requests_per_second")
    assert server.log().count("carry X-Forwarded-For") == 1
    assert "FOOTLIGHT_TRUSTED_PROXIES=127.0.0.1" in server.log()


def test_a_session_stores_at_most_max_session_bytes(tmp_path: Path, backend: str) -> None:
    cap = 200_000
    with (
        limited(tmp_path, backend, max_session_bytes=cap) as server,
        http_client(base_url=server.url, timeout=30) as client,
    ):
        secure_id = init_session(client)
        data = incompressible_payload(60_000, full_snapshot=False)
        answers = [push_data(client, secure_id, n, data) for n in range(1, 10)]
        statuses = [a.status_code for a in answers]
        fits = cap // len(base64.b64decode(data))
        assert statuses == [200] * fits + [429] * (9 - fits)
        wait = assert_refused(answers[-1], "max_session_bytes", "QUOTA_EXCEEDED")
        assert wait >= 3600
        count, size, stored = payload_rows(server, secure_id)
        assert count == fits
        assert size == stored <= cap
        # Small pushes that still fit are taken.
        assert push_data(client, secure_id, 90, small_data()).status_code == 200
    assert refusals(server)[(1, "max_session_bytes")] == 9 - fits


def test_the_session_cap_is_exact_across_nodes(tmp_path: Path, backend: str) -> None:
    """Two nodes on one PostgreSQL database each knowing only their own pushes: the store's
    count, checked by the write that grows it, is what holds."""
    if backend != "postgresql":
        pytest.skip("several nodes share a PostgreSQL database")
    database = fresh_database()
    cap = 300_000
    with (
        limited(tmp_path, backend, "a", store_url=database, max_session_bytes=cap) as a,
        limited(tmp_path, backend, "b", store_url=database, max_session_bytes=cap) as b,
    ):
        with http_client(base_url=a.url, timeout=30) as client:
            secure_id = init_session(client)
        data = incompressible_payload(50_000, full_snapshot=False)

        def pushes(node: Server, first_id: int) -> list[int]:
            with http_client(base_url=node.url, timeout=30) as client:
                return [
                    push_data(client, secure_id, first_id + n, data).status_code for n in range(6)
                ]

        with ThreadPoolExecutor(2) as pool:
            statuses = [
                s
                for f in [pool.submit(pushes, a, 1), pool.submit(pushes, b, 100)]
                for s in f.result()
            ]
        count, size, stored = payload_rows(a, secure_id)
        assert statuses.count(200) == count == cap // len(base64.b64decode(data))
        assert size == stored <= cap


def _quota_bytes_used(server: Server, project: int) -> int:
    rows = db_rows(
        server.data_dir,
        "SELECT coalesce(sum(bytes), 0) FROM project_usage"
        " WHERE project_id = ? AND kind = 'accepted'",
        (project,),
    )
    return int(rows[0][0])


def test_daily_quotas_set_with_the_cli(tmp_path: Path, backend: str) -> None:
    with (
        limited(tmp_path, backend) as server,
        http_client(base_url=server.url, timeout=30) as client,
    ):
        created = footlight(
            server, "project", "create", "shop", "--quota-bytes-per-day", "30KB",
            "--quota-sessions-per-day", "2",
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        assert "quota: 29.3 KiB/day, 2 sessions/day" in created.stdout
        assert "quota: 29.3 KiB/day, 2 sessions/day" in footlight(server, "project", "list").stdout
        time.sleep(0.6)  # the server reads quotas every 0.2 s
        one, two = init_session(client, project="2"), init_session(client, project="2")
        refused = gql(client, INIT_DOC, init_variables(new_secure_id(), "2"), "initializeSession")
        wait = assert_refused(refused, "quota_sessions_per_day", "QUOTA_EXCEEDED")
        assert wait <= 86_400
        assert "--quota-sessions-per-day" in first_error(refused)["extensions"]["detail"]
        # Bytes: pushes until the day's quota is used up (init requests count too).
        statuses = [push_data(client, one, n, small_data(n)).status_code for n in range(1, 40)]
        assert 200 in statuses
        assert statuses[-1] == 429
        assert statuses == sorted(statuses)  # accepted, then refused: never partly
        assert_refused(
            push_data(client, two, 1, small_data()), "quota_bytes_per_day", "QUOTA_EXCEEDED"
        )
        # Project 1 has no quota.
        assert push_data(client, init_session(client), 1, small_data()).status_code == 200
        # Lifted with `project update`: every server sees it within a sync.
        updated = footlight(server, "project", "update", "2", "--quota-bytes-per-day", "off")
        assert updated.returncode == 0, updated.stderr
        assert "quota: 2 sessions/day" in updated.stdout
        time.sleep(0.6)
        assert push_data(client, two, 1, small_data()).status_code == 200
    assert _quota_bytes_used(server, 2) <= 30_000 + 2_000
    usage = footlight(server, "project", "usage", "2")
    assert usage.returncode == 0, usage.stderr
    line = next(row for row in usage.stdout.splitlines() if row.split()[1:2] == ["2"])
    assert "quota_bytes_per_day" in line
    assert "quota_sessions_per_day 1" in line
    everything = footlight(server, "project", "usage", "--days", "2")
    assert everything.returncode == 0
    assert " 1 " in everything.stdout


def test_a_daily_quota_holds_across_two_nodes(tmp_path: Path, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("several nodes share a PostgreSQL database")
    database = fresh_database()
    with (
        limited(tmp_path, backend, "a", store_url=database) as a,
        limited(tmp_path, backend, "b", store_url=database) as b,
    ):
        assert (
            footlight(a, "project", "update", "1", "--quota-bytes-per-day", "20000").returncode == 0
        )
        time.sleep(0.6)
        with (
            http_client(base_url=a.url, timeout=30) as on_a,
            http_client(base_url=b.url, timeout=30) as on_b,
        ):
            secure_id = init_session(on_a)
            statuses = [
                push_data(on_a, secure_id, n, small_data(n)).status_code for n in range(1, 30)
            ]
            assert statuses[-1] == 429
            # Node b accepted nothing yet; within two syncs it knows what a accepted.
            time.sleep(0.6)
            assert_refused(
                push_data(on_b, secure_id, 100, small_data()),
                "quota_bytes_per_day",
                "QUOTA_EXCEEDED",
            )
    assert _quota_bytes_used(a, 1) <= 20_000


# -- the pieces, without a server -----------------------------------------------------------


def test_a_bucket_admits_its_burst_then_its_rate_and_says_how_long_to_wait() -> None:
    from footlight.ingest.quotas import BYTES, REQUESTS, Limiter

    limiter = Limiter(
        Limits(
            client_requests_per_second=2,
            client_request_burst=4,
            client_bytes_per_second=100,
            client_byte_burst=1000,
            max_tracked_keys=3,
        ),
        store=None,  # type: ignore[arg-type]  # usage is never synced here
    )
    for _ in range(4):
        limiter.admit_client("a", 0)
    with pytest.raises(Exception, match="client_requests_per_second") as refused:
        limiter.admit_client("a", 0)
    assert 0.4 < refused.value.retry_after <= 0.5  # type: ignore[attr-defined]
    # A request larger than the burst passes a full bucket, then the debt is paid first:
    # 5000 bytes at 100/s, less the 999 of the burst that a 1-byte request does not need.
    limiter.admit_client("b", 5000)
    tracked = limiter.clients.peek("b")
    assert tracked is not None
    before = list(tracked.tats)
    with pytest.raises(Exception, match="client_bytes_per_second") as refused:
        limiter.admit_client("b", 1)
    assert 39.9 < refused.value.retry_after <= 40.01  # type: ignore[attr-defined]
    assert tracked.tats == before  # a refusal draws from no bucket
    assert before[REQUESTS] > 0
    assert before[BYTES] > 0
    # The map holds at most max_tracked_keys keys, forgetting the least recently used.
    for key in ("c", "d", "e"):
        limiter.admit_client(key, 0)
    assert len(limiter.clients) == 3
    assert limiter.clients.peek("a") is None


def test_client_keys_are_remembered_without_growing_with_strangers_headers() -> None:
    from footlight.core.networks import parse_trusted_proxies
    from footlight.edge.clients import ClientKeys

    keys = ClientKeys(parse_trusted_proxies("127.0.0.1"), capacity=4)
    for _ in range(2):  # the second time from the caches, with the same answers
        assert keys.key("127.0.0.1", "203.0.113.9, 198.51.100.1") == "198.51.100.1"
        assert keys.key("127.0.0.1", None) == "127.0.0.1"
        assert keys.key("10.0.0.1", "198.51.100.1") == "10.0.0.1"  # not a trusted proxy
        assert keys.key("2001:db8::1", None) == "2001:db8::/64"
    for n in range(100):
        keys.key("127.0.0.1", f"198.51.100.{n}")
        keys.key("127.0.0.1", "198.51.100.1, " * 100 + f"203.0.113.{n}")  # never cached
        keys.key(f"192.0.2.{n}", None)
    assert len(keys._peers) <= 4
    assert len(keys._forwarded) <= 4
