"""The fast path answers the SDK's own documents exactly as graphql-core does.

Two real servers on SQLite, one with `FOOTLIGHT_GRAPHQL_FAST_PATH` on (the default) and one
with it off, get the same requests in the same order: every captured request of every SDK
version, then a fuzzed corpus of variables (wrong types, nulls, absent values, huge
numbers, numeric strings, bad payloads, other operation names). Each answer must be the
same bytes with the same status and content type, and the rows ingest stored the same
(times aside). The fast path sits above the store, so one backend shows it.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from footlight.cli import main
from footlight.config import Limits
from footlight.edge.graphql_http import LARGE_BODY_BYTES
from footlight.graph import GraphQLRequest, build_executor
from footlight.graph.executor import Prepared
from footlight.graph.fast_path import Ready, known_documents
from tests.helpers.graphql import meta_event
from tests.helpers.paths import FIXTURES
from tests.helpers.servers import ONE_CLIENT_FOR_MANY_BROWSERS, Server, http_client, start_server
from tests.helpers.store import db_rows

PROJECT_KEY = "harness-project"
"""The project the captured SDK was pointed at."""

PLANNED = {"PushSessionEvents", "identifySession", "addSessionProperties", "addSessionFeedback"}
"""The captured operations the fast path runs itself (initializeSession answers an object
selected through fragments: graphql-core's)."""

_NO_LIMITS = {
    **ONE_CLIENT_FOR_MANY_BROWSERS,
    # Hundreds of requests for one session in a second: a rate limit would refuse them at
    # moments that differ between the two servers.
    "FOOTLIGHT_SESSION_REQUESTS_PER_SECOND": "0",
    "FOOTLIGHT_PROJECT_REQUESTS_PER_SECOND": "0",
}

_INGEST_TABLES = {
    "sessions": "id",
    "payloads": "session_id, payload_id",
    "session_fields": "session_id, kind, key, value",
    "feedback": "id",
    "session_sizes": "session_id",
}
"""What ingest writes while answering (project_usage and intake_refusals are counted in
memory and flushed every few seconds, at moments that differ between the servers)."""
_TIMES = {"created_at", "identified_at", "received_at", "session_created_at", "first_at", "last_at"}
"""Columns that hold when a row was written: they differ between any two servers."""


def _captured() -> dict[str, list[dict[str, Any]]]:
    """Every captured request, by SDK version (tests/fixtures/<sdk>-<version>-requests.jsonl)."""
    versions = {}
    for path in sorted(FIXTURES.glob("*-requests.jsonl")):
        name, _, version = path.name.removesuffix("-requests.jsonl").rpartition("-")
        versions[f"{name.replace('-', '.')} {version}"] = [
            json.loads(line) for line in path.read_text().splitlines()
        ]
    return versions


def _stored(server: Server) -> dict[str, list[tuple[Any, ...]]]:
    tables = {}
    for table, order in _INGEST_TABLES.items():
        columns = [
            name
            for (name,) in db_rows(
                server.data_dir, "SELECT name FROM pragma_table_info(?)", (table,)
            )
            if name not in _TIMES
        ]
        tables[table] = db_rows(
            server.data_dir,
            f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}",  # noqa: S608 - the test's own names
        )
    return tables


class Pair:
    """The two servers, and a request sent to both."""

    def __init__(self, fast: Server, general: Server) -> None:
        self.servers = (fast, general)
        self.clients = [http_client(base_url=s.url, timeout=30) for s in self.servers]

    def send(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
        fast, general = (
            client.post("/", content=msgspec.json.encode(body), headers=headers or _HEADERS)
            for client in self.clients
        )
        assert (fast.status_code, fast.headers["content-type"], fast.content) == (
            general.status_code,
            general.headers["content-type"],
            general.content,
        ), body
        assert fast.status_code != 500, fast.text
        return fast

    def assert_same_rows(self) -> None:
        fast, general = (_stored(server) for server in self.servers)
        assert fast == general
        assert fast["sessions"], "nothing was stored: the comparison shows nothing"

    def close(self) -> None:
        for client in self.clients:
            client.close()


_HEADERS = {"content-type": "application/json", "accept": "*/*"}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("fast-path")
    fast = start_server(root / "fast", env=_NO_LIMITS)
    general = start_server(
        root / "general", env={**_NO_LIMITS, "FOOTLIGHT_GRAPHQL_FAST_PATH": "off"}
    )
    try:
        for server in (fast, general):
            create = ["project", "create", "harness", "--key", PROJECT_KEY, *server.store_args]
            assert main(create) == 0
        both = Pair(fast, general)
        yield both
        both.close()
    finally:
        fast.stop()
        general.stop()


def test_the_known_documents_are_the_captured_ones() -> None:
    captured = {
        version: {r["body"]["operationName"]: r["body"]["query"] for r in requests}
        for version, requests in _captured().items()
    }
    assert known_documents() == captured


def test_every_captured_sdk_request_but_initialize_takes_the_fast_path() -> None:
    executor = build_executor(Limits())
    assert executor.fast_path is not None
    assert executor.fast_path.operations == PLANNED
    for requests in _captured().values():
        for request in requests:
            body = request["body"]
            graphql = GraphQLRequest(body["query"], body["variables"], body["operationName"])
            prepared = executor.prepare(graphql, context=None)
            expected = Ready if body["operationName"] in PLANNED else Prepared
            assert isinstance(prepared, expected), body["operationName"]
            # A GET may run queries only: the general path answers it (406).
            assert not isinstance(executor.prepare(graphql, None, queries_only=True), Ready)
    assert build_executor(Limits(), fast_path=False).fast_path is None


def test_the_fast_path_hands_back_what_it_cannot_run_as_graphql_core_would() -> None:
    fast_path = build_executor(Limits()).fast_path
    assert fast_path is not None
    push = known_documents()["highlight.run 10.7.5"]["PushSessionEvents"]
    plan = fast_path.plan(push, "PushSessionEvents")
    assert plan is not None
    good = {"session_secure_id": "S", "payload_id": "7", "data": "x"}
    assert plan.arguments_for(good) == {"session_secure_id": "S", "payload_id": 7, "data": "x"}
    for wrong in (
        {**good, "payload_id": None},
        {**good, "payload_id": 2**64},
        {**good, "session_secure_id": 12},  # loosened to "12" by the general path
        {**good, "data": ["x"]},
        {"session_secure_id": "S", "payload_id": "7"},
    ):
        assert plan.arguments_for(wrong) is None, wrong
    assert fast_path.plan(push, "SomethingElse") is None
    assert fast_path.plan(push + " ", "PushSessionEvents") is None


def test_captured_requests_are_answered_and_stored_alike(pair: Pair) -> None:
    for requests in _captured().values():
        for request in requests:
            response = pair.send(request["body"], request["headers"])
            assert response.status_code == 200
            assert "errors" not in response.json()
        # Bodies larger than the edge decodes inline (a page's first push, prepared on a
        # thread): one stored, then another with the same payload id and other content.
        push = next(
            r["body"] for r in requests if r["body"]["operationName"] == "PushSessionEvents"
        )
        variables = {**push["variables"], "payload_id": "900"}
        answers = []
        for _ in range(2):
            noise = base64.b64encode(os.urandom(300_000)).decode()
            event = {"type": 5, "timestamp": 1, "data": {"n": noise}}
            large = _data({"events": {"events": [event]}})
            assert len(large) > LARGE_BODY_BYTES
            answers.append(pair.send({**push, "variables": {**variables, "data": large}}).json())
        assert "errors" not in answers[0]
    pair.assert_same_rows()


def _data(payload: dict[str, Any]) -> str:
    return base64.b64encode(gzip.compress(msgspec.json.encode(payload), mtime=0)).decode()


_SECURE_ID = "FastPathFuzzSession01"
_PAYLOADS = [
    _data({"events": {"events": [meta_event()]}}),
    _data({"events": {"events": [{"type": 3, "timestamp": 1, "data": 5}]}}),  # data not an object
    base64.b64encode(b"not gzip").decode(),
    "not base64!",
    "",
]
_ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "12", "-3", "1e3", "0x10", " 7", "é", "2024-06-10T06:13:20.123Z"]),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_FITTING: dict[str, st.SearchStrategy[Any]] = {
    "session_secure_id": st.sampled_from([_SECURE_ID, "NoSuchSessionAtAll01"]),
    "payload_id": st.one_of(st.integers(0, 50), st.integers(0, 50).map(str)),
    "data": st.sampled_from(_PAYLOADS),
    "user_identifier": st.one_of(st.text(max_size=12), st.integers()),
    "user_object": st.dictionaries(st.sampled_from(["a", "b", "plan"]), st.text(max_size=5)),
    "properties_object": st.dictionaries(
        st.sampled_from(["referrer", "reload", "k"]), st.one_of(st.text(max_size=5), st.booleans())
    ),
    "verbatim": st.text(max_size=20),
    "timestamp": st.sampled_from(
        [
            "2024-06-10T06:13:20.123Z",
            "2024-06-10T06:13:20+02:00",
            "yesterday",
            "2024-13-40T00:00:00Z",
        ]
    ),
    "user_name": st.text(max_size=8),
    "user_email": st.sampled_from(["a@example.com", "not an address"]),
}
_DOCUMENTS = known_documents()["highlight.run 10.7.5"]
_VARIABLES = {name: [v for v in _FITTING if f"${v}:" in text] for name, text in _DOCUMENTS.items()}


@st.composite
def _requests(draw: st.DrawFn) -> dict[str, Any]:
    operation = draw(st.sampled_from(sorted(PLANNED)))
    variables: dict[str, Any] = {}
    for name in _VARIABLES[operation]:
        choice = draw(st.sampled_from(["fitting", "fitting", "fitting", "odd", "absent"]))
        if choice != "absent":
            variables[name] = draw(_FITTING[name] if choice == "fitting" else _ODD)
    body: dict[str, Any] = {"query": _DOCUMENTS[operation], "variables": variables}
    body["operationName"] = draw(st.sampled_from([operation, operation, None, "Other"]))
    return body


def test_fuzzed_variables_are_answered_and_stored_alike(pair: Pair) -> None:
    init = next(
        r["body"]
        for r in _captured()["highlight.run 10.7.5"]
        if r["body"]["operationName"] == "initializeSession"
    )
    pair.send({**init, "variables": {**init["variables"], "session_secure_id": _SECURE_ID}})

    @settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=_requests())
    def send(body: dict[str, Any]) -> None:
        pair.send(body)

    send()
    pair.assert_same_rows()
    (stored,) = db_rows(pair.servers[0].data_dir, "SELECT count(*) FROM payloads")
    assert stored[0] > 0, "no fuzzed push was stored: the corpus tested only refusals"
