"""The real highlight.run OTLP exports and the small builders that the OTLP decoding tests
(tests/core) and mapping tests (tests/processing) share."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as ProtoLogRecord
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs, ScopeLogs, SeverityNumber
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from footlight.core.otlp import (
    DecodedBatch,
    Span,
    decode_batch,
)
from tests.helpers.paths import FIXTURES

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
LIMIT = 1 << 24

# Real exports of highlight.run 10.7.5, byte for byte as the SDK posted them.
TRACES_BODY = (FIXTURES / "otlp-traces.json").read_bytes()
TRACES: dict[str, Any] = json.loads(TRACES_BODY)


def raw_spans(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for resource_spans in doc["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            yield from scope_spans["spans"]


def decode_traces(body: bytes = TRACES_BODY) -> DecodedBatch:
    return decode_batch("traces", JSON, None, body, LIMIT)


def span_named(batch: DecodedBatch, name: str) -> Span:
    return next(s for s in batch.spans if s.name == name)


def kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def string_value(text: str) -> AnyValue:
    return AnyValue(string_value=text)


def one_span(span: ProtoSpan, scope: str = "highlight-browser") -> Span:
    """A hand-built span, exported as protobuf and decoded the way stored batches are."""
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=[kv("service.name", string_value("shop"))]),
                scope_spans=[ScopeSpans(scope=InstrumentationScope(name=scope), spans=[span])],
            )
        ]
    )
    (decoded,) = decode_batch("traces", PROTOBUF, None, request.SerializeToString(), LIMIT).spans
    return decoded


TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
SPAN_ID = bytes.fromhex("b7ad6b7169203331")
T0 = 1_795_664_481_000_000_000  # ns


# -- logs ----------------------------------------------------------------------------------


def logs_request() -> ExportLogsServiceRequest:
    body = AnyValue(
        kvlist_value=KeyValueList(
            values=[
                kv("msg", string_value("cart updated")),
                kv("items", AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=3)]))),
                kv("ok", AnyValue(bool_value=True)),
            ]
        )
    )
    records = [
        ProtoLogRecord(
            time_unix_nano=T0 + 500_000,
            severity_text="WARN",
            severity_number=SeverityNumber.SEVERITY_NUMBER_WARN,
            body=body,
            attributes=[
                kv("highlight.session_id", string_value("sess-1")),
                kv("ratio", AnyValue(double_value=0.25)),
            ],
            trace_id=TRACE,
            span_id=SPAN_ID,
        ),
        # Only an observed time, a string body, no severity text and no session attribute.
        ProtoLogRecord(
            observed_time_unix_nano=T0,
            severity_number=SeverityNumber.SEVERITY_NUMBER_ERROR,
            body=string_value("plain"),
        ),
    ]
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=Resource(
                    attributes=[
                        kv("service.name", string_value("web")),
                        kv("highlight.session_id", string_value("sess-resource")),
                    ]
                ),
                scope_logs=[
                    ScopeLogs(scope=InstrumentationScope(name="console"), log_records=records)
                ],
            )
        ]
    )
