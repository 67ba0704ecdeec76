"""The OTLP/gRPC receiver keeps what backend SDKs export over gRPC exactly as OTLP/HTTP
protobuf exports are kept, answers OK only once it is stored, and refuses with the status
codes OTLP exporters act on (retry information included where a retry helps)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from footlight.edge.otlp_grpc import peer_address
from footlight.processing.otlp import decode_stored
from footlight.store import OtlpBatch
from tests.helpers.inspection import otlp_batches
from tests.helpers.otlp import otlp_grpc_export
from tests.helpers.servers import Server, http_post, running, start_server
from tests.helpers.store import with_store

PROTOBUF = "application/x-protobuf"
# Every item must name its session or project; these name a session that never starts.
SESSION = {"key": "highlight.session_id", "value": {"stringValue": "grpcTestSession"}}


def _traces(marker: str) -> ExportTraceServiceRequest:
    return json_format.ParseDict(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [
                            {"key": "service.name", "value": {"stringValue": "api"}},
                            SESSION,
                        ]
                    },
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "traceId": "W47/95gDgQPSabYzgT/GDA==",
                                    "spanId": "7uGbfsPBsXQ=",
                                    "name": marker,
                                    "startTimeUnixNano": "1795664480000000000",
                                    "endTimeUnixNano": "1795664480100000000",
                                }
                            ]
                        }
                    ],
                }
            ]
        },
        ExportTraceServiceRequest(),
    )


def _logs(marker: str) -> ExportLogsServiceRequest:
    return json_format.ParseDict(
        {
            "resourceLogs": [
                {
                    "resource": {"attributes": [SESSION]},
                    "scopeLogs": [
                        {
                            "logRecords": [
                                {
                                    "timeUnixNano": "1795664482000000000",
                                    "severityText": "WARN",
                                    "body": {"stringValue": marker},
                                }
                            ]
                        }
                    ],
                }
            ]
        },
        ExportLogsServiceRequest(),
    )


def _metrics(marker: str) -> ExportMetricsServiceRequest:
    return json_format.ParseDict(
        {
            "resourceMetrics": [
                {
                    "resource": {"attributes": [SESSION]},
                    "scopeMetrics": [
                        {
                            "metrics": [
                                {
                                    "name": marker,
                                    "gauge": {
                                        "dataPoints": [
                                            {
                                                "timeUnixNano": "1795664482000000000",
                                                "asDouble": 1.5,
                                            }
                                        ]
                                    },
                                }
                            ]
                        }
                    ],
                }
            ]
        },
        ExportMetricsServiceRequest(),
    )


REQUESTS = {"traces": _traces, "logs": _logs, "metrics": _metrics}


def _batches(server: Server) -> list[OtlpBatch]:
    return with_store(server.data_dir, lambda store: otlp_batches(store))


@pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
@pytest.mark.parametrize("compression", [grpc.Compression.Gzip, grpc.Compression.NoCompression])
def test_exports_are_stored_as_their_protobuf_message(
    server: Server, signal: str, compression: grpc.Compression
) -> None:
    message = REQUESTS[signal](f"{signal}-{compression.name}-{server.url}").SerializeToString()
    answer = otlp_grpc_export(server.grpc_target, signal, message, compression=compression)
    assert answer.code == grpc.StatusCode.OK, answer
    assert answer.response == b""  # no partial success: every item was kept
    stored = [b for b in _batches(server) if b.body == message]
    # Inflated by gRPC, stored as an OTLP/HTTP protobuf body is: processing reads both alike.
    assert [(b.signal, b.content_type, b.content_encoding) for b in stored] == [
        (signal, PROTOBUF, None)
    ]


def test_an_export_sent_over_grpc_and_http_or_retried_is_stored_once(server: Server) -> None:
    message = _traces(f"once-{server.url}").SerializeToString()
    for compression in (grpc.Compression.Gzip, grpc.Compression.NoCompression):
        answer = otlp_grpc_export(server.grpc_target, "traces", message, compression=compression)
        assert answer.code == grpc.StatusCode.OK, answer
    http = http_post(f"{server.url}/v1/traces", content=message, headers={"content-type": PROTOBUF})
    assert http.status_code == 200
    assert len([b for b in _batches(server) if b.body == message]) == 1


@pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
def test_what_is_not_an_export_is_invalid_argument_and_not_stored(
    server: Server, signal: str
) -> None:
    before = len(_batches(server))
    refused = otlp_grpc_export(server.grpc_target, signal, b"\xff\xff\xff\xff")
    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT
    assert f"the {signal} export is not valid OTLP protobuf" in refused.details
    assert refused.retry_seconds() is None, "not worth retrying"
    assert len(_batches(server)) == before


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[Server]:
    """A server with a 64 KiB message limit, and a client allowed 2 exports, then 1 a second."""
    env = {
        "FOOTLIGHT_MAX_BODY_BYTES": str(64 * 1024),
        "FOOTLIGHT_CLIENT_REQUESTS_PER_SECOND": "0.2",
        "FOOTLIGHT_CLIENT_REQUEST_BURST": "2",
    }
    with running(tmp_path_factory, "grpc-small", backend, env, client_limits=True) as server:
        yield server


def test_a_message_over_the_size_limit_is_refused_unread(small: Server) -> None:
    large = _traces("x" * 100_000).SerializeToString()
    refused = otlp_grpc_export(small.grpc_target, "traces", large)
    assert refused.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    # A gzip bomb: 40 KB on the wire, 40 MB once inflated, refused while inflating.
    bomb = _traces("x" * 40_000_000).SerializeToString()
    assert len(gzip.compress(bomb)) < 64 * 1024
    refused = otlp_grpc_export(small.grpc_target, "logs", bomb, compression=grpc.Compression.Gzip)
    assert refused.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in refused.details
    assert _batches(small) == []


def test_a_client_over_its_rate_gets_resource_exhausted_with_the_wait(small: Server) -> None:
    answers = [
        otlp_grpc_export(small.grpc_target, "logs", _logs(f"rate-{n}").SerializeToString())
        for n in range(4)
    ]
    codes = [a.code for a in answers]
    assert codes[0] == grpc.StatusCode.OK
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) >= 2, codes
    last = answers[-1]
    status_bytes = last.trailers["grpc-status-details-bin"]
    assert isinstance(status_bytes, bytes)
    status = status_pb2.Status.FromString(status_bytes)
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry)
    assert retry.retry_delay.seconds >= 1
    assert last.retry_seconds() == retry.retry_delay.seconds
    stored = {b.body for b in _batches(small)}
    assert len(stored) == codes.count(grpc.StatusCode.OK), "a refused export was stored"


@pytest.mark.parametrize(
    ("peer", "address"),
    [
        ("ipv4:127.0.0.1:5555", "127.0.0.1"),
        ("ipv6:[::1]:5555", "::1"),
        ("ipv6:[2001:db8::1]:80", "2001:db8::1"),
        ("unix:/tmp/socket", None),
    ],
)
def test_the_client_is_the_peer_address(peer: str, address: str | None) -> None:
    assert peer_address(peer) == address


def test_the_receiver_can_be_turned_off(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", args=["--otlp-grpc-port", "off"])
    try:
        assert "  otlp grpc:  off" in server.log().splitlines()
    finally:
        server.stop()


def test_worker_processes_share_the_grpc_port(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", args=["--workers", "2"])
    try:
        messages = [_logs(f"worker-{n}").SerializeToString() for n in range(8)]
        for message in messages:  # a channel each: new connections, spread by the kernel
            assert otlp_grpc_export(server.grpc_target, "logs", message).code == grpc.StatusCode.OK
        assert {b.body for b in _batches(server)} == set(messages)
    finally:
        server.stop()


def test_an_export_naming_no_known_project_is_invalid_and_a_mixed_one_partly_kept(
    server: Server,
) -> None:
    orphan = _traces(f"orphan {server.url}")
    del orphan.resource_spans[0].resource.attributes[1]  # the session
    orphan.resource_spans[0].resource.attributes.add(
        key="highlight.project_id"
    ).value.string_value = "nope"
    answer = otlp_grpc_export(server.grpc_target, "traces", orphan.SerializeToString())
    assert answer.code == grpc.StatusCode.INVALID_ARGUMENT
    assert answer.details.startswith("1 span named no browser session and no known project")
    assert "(unknown projects: 'nope')" in answer.details

    # The same span beside one of a session: that one is kept, the other reported.
    mixed = _traces(f"mixed {server.url}")
    mixed.resource_spans.append(orphan.resource_spans[0])
    answer = otlp_grpc_export(server.grpc_target, "traces", mixed.SerializeToString())
    assert answer.code == grpc.StatusCode.OK
    partial = ExportTraceServiceResponse.FromString(answer.response).partial_success
    assert partial.rejected_spans == 1
    assert partial.error_message.startswith("1 span named no browser session")
    names = [
        span.name
        for batch in _batches(server)
        for span in decode_stored(batch, 1 << 20).spans
        if server.url in span.name
    ]
    assert f"mixed {server.url}" in names
    assert f"orphan {server.url}" not in names

    # Metadata names the project of items that name none (as the HTTP header does).
    del orphan.resource_spans[0].resource.attributes[-1]
    answer = otlp_grpc_export(
        server.grpc_target,
        "traces",
        orphan.SerializeToString(),
        metadata=[("x-highlight-project", "1")],
    )
    assert (answer.code, answer.response) == (grpc.StatusCode.OK, b"")
