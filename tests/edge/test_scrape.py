"""`GET /metrics`: Prometheus reads what footlight did and holds, parsed with the official
client's own parser; only the operator's addresses (or token) may read it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from footlight.app import ROUTE_LABELS, FootlightApp
from footlight.config import Settings
from footlight.store import SQLiteStore
from tests.helpers.graphql import error_codes, init_session, make_payload, push
from tests.helpers.otlp import traced_request
from tests.helpers.servers import QUICK_PROCESSING, Server, client_of, running, start_server
from tests.helpers.waiting import wait_for_processing

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: httpx.Client, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[Server]:
    """A server of this module's alone: its counters start at zero."""
    with running(tmp_path_factory, "scrape", backend, QUICK_PROCESSING) as server:
        yield server


def test_a_scrape_counts_what_ingest_stored_and_refused(own_server: Server) -> None:
    with client_of(own_server) as client:
        before = scrape(client)
        secure_id = init_session(client)
        for payload_id in (1, 2, 3):
            pushed = push(client, secure_id, payload_id, make_payload())
            assert pushed.json() == {"data": {"pushSessionEvents": None}}, pushed.text
        again = push(client, secure_id, 3, make_payload())  # a retry: stored once
        assert "errors" not in again.json()
        refused = push(client, secure_id, 4, "bm90IGd6aXA=")  # base64 of "not gzip"
        assert error_codes(refused) == ["BAD_USER_INPUT"]
        exported = client.post("/v1/traces", json=traced_request(secure_id, 1, "ab" * 16)["traces"])
        assert exported.status_code == 200, exported.text
        after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    push_ok = {"route": "graphql", "operation": "pushSessionEvents", "outcome": "ok"}
    assert grew("footlight_requests_total", **push_ok) == 4
    assert (
        grew(
            "footlight_requests_total",
            route="graphql",
            operation="pushSessionEvents",
            outcome="BAD_USER_INPUT",
        )
        == 1
    )
    assert (
        grew(
            "footlight_requests_total", route="graphql", operation="initializeSession", outcome="ok"
        )
        == 1
    )
    assert grew("footlight_requests_total", route="otlp", operation="", outcome="ok") == 1
    assert grew("footlight_payloads_stored_total") == 3
    assert grew("footlight_payload_bytes_stored_total") > 0
    assert grew("footlight_request_bytes_total", route="graphql") > grew(
        "footlight_payload_bytes_stored_total"
    )
    assert grew("footlight_ack_seconds_count", route="graphql") == 6
    assert grew("footlight_otlp_exports_total", signal="traces") == 1
    assert grew("footlight_store_commit_seconds_count") > 0
    assert value(after, "footlight_store_up") == 1
    assert value(after, "footlight_store_disk_bytes") > 0
    assert value(after, "footlight_sessions_recording") >= 1
    assert ("footlight_processing_jobs", frozenset({("kind", "live"), ("state", "due")})) in after


def test_processing_and_its_queue_are_measured(own_server: Server) -> None:
    with client_of(own_server) as client:
        secure_id = init_session(client)
        push(client, secure_id, 1, make_payload())
        wait_for_processing(own_server)
        samples = scrape(client)
    assert value(samples, "footlight_processing_runs_total", kind="session", outcome="done") >= 1
    assert value(samples, "footlight_processing_seconds_count", kind="session") >= 1
    assert value(samples, "footlight_sessions_recording") == 0
    assert value(samples, "footlight_processing_jobs", kind="session", state="waiting") == 0
    assert value(samples, "footlight_processing_lag_seconds", kind="session") == 0
    assert value(samples, "footlight_otlp_items_total", item="spans") >= 1


def test_metrics_are_for_this_machine_unless_a_token_is_sent(
    own_server: Server, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with client_of(own_server) as client:
        # A proxy on this machine forwarding someone else's request is not this machine.
        forwarded = client.get("/metrics", headers={"x-forwarded-for": "203.0.113.9"})
        assert forwarded.status_code == 403
        assert forwarded.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert "FOOTLIGHT_METRICS_ALLOW" in forwarded.text
        assert client.post("/metrics").status_code == 405
    token = "scrape-" + "x" * 20
    guarded = start_server(
        tmp_path_factory.mktemp("scrape-token") / "data",
        {"FOOTLIGHT_METRICS_ALLOW": "none", "FOOTLIGHT_METRICS_TOKEN": token},
        backend="sqlite",
    )
    try:
        with client_of(guarded) as client:
            assert client.get("/metrics").status_code == 403
            wrong = client.get("/metrics", headers={"authorization": "Bearer " + "y" * 27})
            assert wrong.status_code == 403
            assert value(scrape(client, authorization=f"Bearer {token}"), "footlight_store_up")
    finally:
        guarded.stop()


def per_worker_inits(directory: Path) -> list[float]:
    """initializeSession requests each worker counted, read from its own file in the shared
    directory with the client's own multiprocess reader, one file at a time."""
    counts = []
    for path in sorted(directory.glob("counter_*.db")):
        alone = directory.parent / f"alone-{path.stem}"
        alone.mkdir(exist_ok=True)
        shutil.copy(path, alone / path.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))  # type: ignore[no-untyped-call]
        counts.append(
            registry.get_sample_value(
                "footlight_requests_total",
                {"route": "graphql", "operation": "initializeSession", "outcome": "ok"},
            )
            or 0.0
        )
    return counts


def test_one_scrape_sums_every_worker(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Two workers each count some of the requests; every scrape, whichever worker answers
    it, says their sum. (Without the sum, a scrape answered by one worker says its part.)"""
    root = tmp_path_factory.mktemp("scrape-workers")
    shared = root / "metrics"
    shared.mkdir()
    server = start_server(
        root / "data",
        {
            "FOOTLIGHT_WORKERS": "2",
            "FOOTLIGHT_OTLP_GRPC_PORT": "off",
            "PROMETHEUS_MULTIPROC_DIR": str(shared),  # serve uses one the operator set
        },
        backend="sqlite",
    )
    try:
        # New connections until both workers have answered some (the kernel hands each
        # connection to whichever worker accepts first).
        for _ in range(200):
            with client_of(server) as client:
                init_session(client)
            # Files of processes that answered none (the serve process itself) count 0.
            parts = [count for count in per_worker_inits(shared) if count]
            if len(parts) == 2:
                break
        assert len(parts) == 2, f"not two workers answering: {parts}"
        totals = set()
        for _ in range(10):
            with client_of(server) as client:
                totals.add(
                    value(
                        scrape(client),
                        "footlight_requests_total",
                        route="graphql",
                        operation="initializeSession",
                        outcome="ok",
                    )
                )
        assert totals == {sum(parts)}, (totals, parts)
    finally:
        server.stop()


def test_every_route_has_its_metric_name(tmp_path: Path) -> None:
    app = FootlightApp(Settings(), SQLiteStore(tmp_path))
    assert set(app.routes) == set(ROUTE_LABELS)


def test_json_logs_name_the_request_project_and_refusal(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server = start_server(
        tmp_path_factory.mktemp("json-logs") / "data",
        {"FOOTLIGHT_LOG_FORMAT": "json"},
        backend="sqlite",
    )
    try:
        with client_of(server) as client:
            secure_id = init_session(client)
            refused = push(client, secure_id, 1, "bm90IGd6aXA=")
            assert error_codes(refused) == ["BAD_USER_INPUT"]
    finally:
        server.stop()
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "footlight.access"]
    assert len(access) == 1, lines
    entry = access[0]
    assert entry["level"] == "info"
    assert entry["code"] == "BAD_USER_INPUT"
    assert entry["status"] == 200
    assert entry["route"] == "graphql"
    assert entry["project"] == "1"
    assert entry["request_id"]
    assert "pushSessionEvents" in entry["event"]
    assert entry["time"].endswith("+00:00")
