"""What the Go and .NET SDKs send: OTLP/HTTP protobuf, built here with the OTLP message classes
(there is no Go or .NET toolchain on the test machines), naming the project as LaunchDarkly's
SDKs do, by an SDK key in `launchdarkly.project_id` (a key added to the project with
`footlight project create --key`), and the session in `launchdarkly.session_id`."""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Iterator

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, SeverityNumber
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.helpers.cli import footlight_ok
from tests.helpers.graphql import init_session
from tests.helpers.servers import Server, http_client, running
from tests.helpers.waiting import read_rows_until

SDK_KEY = "sdk-6f0c1e2d-test-key"
PROTOBUF = {"content-type": "application/x-protobuf", "content-encoding": "gzip"}


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


@pytest.fixture(scope="module")
def go_backend(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[Server]:
    with running(
        tmp_path_factory, "protobuf", backend, {"FOOTLIGHT_SESSION_INACTIVITY_SECONDS": "1"}
    ) as server:
        footlight_ok(server, "project", "create", "Go shop", "--key", SDK_KEY)
        yield server


def _resource() -> Resource:
    return Resource(
        attributes=[
            _kv("service.name", "orders-go"),
            _kv("telemetry.sdk.language", "go"),
            _kv("launchdarkly.project_id", SDK_KEY),
        ]
    )


def test_a_protobuf_export_of_errors_and_logs_lands_in_the_keys_project(
    go_backend: Server,
) -> None:
    with http_client(base_url=go_backend.url, timeout=30) as client:
        secure_id = init_session(client, project=SDK_KEY)
        now = time.time_ns()
        failure = Span(
            trace_id=os.urandom(16),
            span_id=os.urandom(8),
            name="POST /orders",
            kind=Span.SPAN_KIND_SERVER,
            start_time_unix_nano=now,
            end_time_unix_nano=now + 30_000_000,
            events=[
                Span.Event(
                    name="exception",
                    time_unix_nano=now + 20_000_000,
                    attributes=[
                        _kv("exception.type", "*errors.errorString"),
                        _kv("exception.message", "stock service unreachable"),
                        _kv(
                            "exception.stacktrace",
                            "goroutine 1 [running]:\nmain.placeOrder()\n\t/app/orders.go:42",
                        ),
                    ],
                )
            ],
        )
        traces = ExportTraceServiceRequest()
        traces.resource_spans.add(resource=_resource()).scope_spans.add().spans.append(failure)
        logs = ExportLogsServiceRequest()
        records = logs.resource_logs.add(resource=_resource()).scope_logs.add().log_records
        records.append(
            LogRecord(
                time_unix_nano=now,
                severity_number=SeverityNumber.SEVERITY_NUMBER_WARN,
                severity_text="WARN",
                body=AnyValue(string_value="order queue is slow"),
                attributes=[_kv("launchdarkly.session_id", secure_id)],
            )
        )
        for signal, message in (("traces", traces), ("logs", logs)):
            answer = client.post(
                f"/v1/{signal}",
                content=gzip.compress(message.SerializeToString()),
                headers=PROTOBUF,
            )
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"] == "application/x-protobuf"
            assert answer.content == b""  # no partial success: everything was kept

    projects = read_rows_until(go_backend, "/api/v1/projects")
    (shop,) = [p for p in projects if SDK_KEY in p["keys"]]
    errors = read_rows_until(go_backend, f"/api/v1/errors?project={shop['id']}")
    assert [
        (e["type"], e["message"], e["session_secure_id"], e["service_name"]) for e in errors
    ] == [("*errors.errorString", "stock service unreachable", None, "orders-go")]
    logs_read = read_rows_until(go_backend, f"/api/v1/logs?project={shop['id']}")
    assert [(g["message"], g["level"], g["session_secure_id"]) for g in logs_read] == [
        ("order queue is slow", "warn", secure_id)
    ]
    services = read_rows_until(go_backend, "/api/v1/projects")
    (shop,) = [p for p in services if SDK_KEY in p["keys"]]
    assert [b["name"] for b in shop["backend_services"]] == ["orders-go"]
