"""What footlight counts for Prometheus, and how a scrape reads it (`GET /metrics`).

Each layer records its own figures into the instruments below as things happen: the app
counts requests and times ingest answers, ingest counts what it stored, the store's writer
times each group commit, processing counts its runs, retention what it deleted. They are the
official client's counters and histograms (`prometheus-client`): an increment is a lock
and an addition, a few microseconds against the ~0.7 ms a push costs. Label values are
always footlight's own words (routes, operation names from the schema, error codes), never
a stranger's text, so no client can grow the number of series.

What the store holds (queue depth and lag, sessions recording, disk used) is read from the
store when a scrape comes, not tracked: it is the same for every process of a deployment,
and a read every scrape interval costs nothing beside ingest.

Several processes. With `FOOTLIGHT_WORKERS` above 1, `footlight serve` gives the workers a
shared directory (the client's multiprocess mode, `PROMETHEUS_MULTIPROC_DIR`); whichever
worker answers a scrape sums every worker's counters, so one scrape sees the whole server.
Separate servers (nodes) are scraped one by one, as Prometheus does anyway.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric as Metric  # re-exported: the gauges' type

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
"""The client's own variable: set (by `footlight serve`) before any worker imports this."""

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""The classic text format, which every Prometheus (and agent) reads; footlight's names
need none of the newer format's escaping."""

# A `_created` series per counter doubles the answer for what Prometheus knows anyway.
disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry(auto_describe=False)
"""This process's instruments (in multiprocess mode their values live in the shared files)."""

if MULTIPROCESS_DIR not in os.environ:
    ProcessCollector(namespace="footlight", registry=REGISTRY)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_RUN_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)

requests = Counter(
    "footlight_requests",
    "HTTP requests answered, by route (graphql, otlp, api, ui, health, metrics, other),"
    " GraphQL operation (the schema's field name; '' elsewhere) and outcome (ok, or the"
    " refusal's code, or http_<status>).",
    ("route", "operation", "outcome"),
    registry=REGISTRY,
)
request_bytes = Counter(
    "footlight_request_bytes",
    "Request body bytes received on the ingest routes, as sent (compressed or not).",
    ("route",),
    registry=REGISTRY,
)
ack_seconds = Histogram(
    "footlight_ack_seconds",
    "Time from an ingest request's arrival to its answer (a 2xx only once the store has"
    " committed it).",
    ("route",),
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
payloads_stored = Counter(
    "footlight_payloads_stored",
    "Recording payloads stored (a retried push that was already stored is not counted).",
    registry=REGISTRY,
)
payload_bytes_stored = Counter(
    "footlight_payload_bytes_stored",
    "Bytes of recording payload bodies stored, as kept on disk.",
    registry=REGISTRY,
)
otlp_exports = Counter(
    "footlight_otlp_exports",
    "OTLP exports (HTTP and gRPC) stored, by signal (traces, logs, metrics).",
    ("signal",),
    registry=REGISTRY,
)
otlp_items = Counter(
    "footlight_otlp_items",
    "Items processing took from OTLP exports: spans, logs, metric points and backend errors.",
    ("item",),
    registry=REGISTRY,
)
commit_seconds = Histogram(
    "footlight_store_commit_seconds",
    "Time the store's writer took for one group commit (every write in it, then COMMIT).",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
commit_writes = Histogram(
    "footlight_store_commit_writes",
    "Writes committed together in one group commit.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    registry=REGISTRY,
)
commit_replays = Counter(
    "footlight_store_commit_replays",
    "Group commits run a second time, each write in its own savepoint, because one of their"
    " writes was refused (it alone is undone).",
    registry=REGISTRY,
)
commit_failures = Counter(
    "footlight_store_commit_failures",
    "Group commits that failed as a whole (the store was unavailable); their writers got 503.",
    registry=REGISTRY,
)
processing_runs = Counter(
    "footlight_processing_runs",
    "Processing runs, by job kind (session, live, otlp, backend) and outcome: done, dropped"
    " (its input was deleted), failed (retried later), quarantined, lost (another process"
    " took it over), unavailable (the store was), given_back (shutting down).",
    ("kind", "outcome"),
    registry=REGISTRY,
)
processing_seconds = Histogram(
    "footlight_processing_seconds",
    "Time one processing run took, from claim to commit, by job kind.",
    ("kind",),
    buckets=_RUN_BUCKETS,
    registry=REGISTRY,
)
retention_deleted = Counter(
    "footlight_retention_deleted",
    "What retention deleted: sessions, and OTLP batches older than every project's retention.",
    ("what",),
    registry=REGISTRY,
)


_answered: dict[tuple[str, str, str], Counter] = {}
_acked: dict[str, tuple[Histogram, Counter]] = {}


def answered(
    route: str, operation: str, outcome: str, ingest: tuple[float, int] | None = None
) -> None:
    """Count one answered request; if it was ingest's, `ingest` is (seconds it took to
    answer, bytes of its body).

    Once per request, so the labelled children are kept: `labels()` costs a lock and a few
    lookups (~1.6 µs), a kept child's increment a fifth of it. The label values are bounded
    sets (see the module docstring), and so is this cache."""
    key = (route, operation, outcome)
    child = _answered.get(key)
    if child is None:
        child = _answered[key] = requests.labels(route, operation, outcome)
    child.inc()
    if ingest is not None:
        children = _acked.get(route)
        if children is None:
            children = _acked[route] = (ack_seconds.labels(route), request_bytes.labels(route))
        children[0].observe(ingest[0])
        if ingest[1]:
            children[1].inc(ingest[1])


def gauge(name: str, documentation: str, samples: Iterable[tuple[dict[str, str], float]]) -> Metric:
    """A gauge read at scrape time (from the store), with one sample per label set."""
    family = Metric(name, documentation, "gauge")
    for labels, value in samples:
        family.add_sample(name, labels, value)
    return family


class _Scrape:
    """What one scrape answers: the instruments (summed over workers) and the read gauges."""

    def __init__(self, read: list[Metric]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        if MULTIPROCESS_DIR in os.environ:
            merged = CollectorRegistry(auto_describe=False)
            multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            yield from merged.collect()
        else:
            yield from REGISTRY.collect()
        yield from self._read


def exposition(read: list[Metric]) -> bytes:
    """The text format of every metric, with `read` (gauges from the store) added."""
    return generate_latest(_Scrape(read))
