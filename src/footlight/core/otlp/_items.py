"""An OTLP export message to plain, typed items: spans, log records and metric points.

Attribute values become Python values (bytes as base64, so items stay JSON-serialisable),
ids lowercase hex, times epoch milliseconds; each item names its session and service.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from footlight.core.otlp._decode import (
    PROJECT_ATTRIBUTES,
    SESSION_ATTRIBUTES,
    Attributes,
    Export,
    parse_export,
    signal_of,
)
from footlight.errors import OtlpDecodeError

_TRACE_ID_BYTES = 16
_SPAN_ID_BYTES = 8
_NS_PER_MS = 1_000_000
# Data point flag FLAG_NO_RECORDED_VALUE: the point marks a gap, it has no value.
_NO_RECORDED_VALUE = 1

_SPAN_KINDS = {
    0: "unspecified",
    1: "internal",
    2: "server",
    3: "client",
    4: "producer",
    5: "consumer",
}
_STATUS_CODES = {0: "unset", 1: "ok", 2: "error"}


@dataclass(frozen=True)
class SpanEvent:
    name: str
    time: float
    """Epoch milliseconds (fractional)."""
    attributes: Attributes


@dataclass(frozen=True)
class Span:
    trace_id: str
    """Lowercase hex, 32 digits."""
    span_id: str
    """Lowercase hex, 16 digits."""
    parent_span_id: str | None
    """Lowercase hex, or None for a root span."""
    name: str
    kind: str
    """unspecified, internal, server, client, producer or consumer."""
    start: float
    """Epoch milliseconds (fractional)."""
    end: float | None
    """Epoch milliseconds (fractional); None when the exporter sent no end time."""
    attributes: Attributes
    resource_attributes: Attributes
    status_code: str
    """unset, ok or error (or the number, for a code this protocol version lacks)."""
    status_message: str
    events: tuple[SpanEvent, ...]
    session_secure_id: str | None
    service_name: str | None
    scope_name: str | None = None
    """The instrumentation that made the span (e.g. @opentelemetry/instrumentation-fetch)."""


@dataclass(frozen=True)
class LogRecord:
    time: float | None
    """Epoch milliseconds: the record's time, else its observed time, else None."""
    severity_text: str
    severity_number: int
    body: str
    """A string body as it is; any other body JSON-encoded; "" when there is none."""
    attributes: Attributes
    resource_attributes: Attributes
    trace_id: str | None
    span_id: str | None
    session_secure_id: str | None
    service_name: str | None
    scope_name: str | None = None
    event_name: str | None = None


@dataclass(frozen=True)
class MetricPoint:
    name: str
    kind: str
    """gauge, sum, histogram, exponential_histogram or summary."""
    time: float
    """Epoch milliseconds (fractional)."""
    value: float | None
    """The number for gauge/sum points; the sum for the others (None if it was not sent)."""
    attributes: Attributes
    resource_attributes: Attributes
    session_secure_id: str | None
    service_name: str | None
    count: int | None = None
    """How many measurements a histogram/summary point aggregates; None for numbers."""
    unit: str = ""
    start_time: float | None = None


@dataclass(frozen=True)
class DecodedBatch:
    spans: list[Span] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    metrics: list[MetricPoint] = field(default_factory=list)


def decode_batch(
    signal: str,
    content_type: str,
    content_encoding: str | None,
    body: bytes,
    max_inflated_bytes: int,
) -> DecodedBatch:
    """Decode one OTLP/HTTP export body of `signal` into spans, log records or metrics."""
    return decode_export(
        parse_export(signal, content_type, content_encoding, body, max_inflated_bytes)
    )


def decode_export(request: Export) -> DecodedBatch:
    """The spans, log records or metric points of a parsed export."""
    sig = signal_of(request)
    try:
        if isinstance(request, ExportTraceServiceRequest):
            return DecodedBatch(spans=list(_spans(request)))
        if isinstance(request, ExportLogsServiceRequest):
            return DecodedBatch(logs=list(_logs(request)))
        return DecodedBatch(metrics=list(_metrics(request)))
    except RecursionError:
        # Only reachable through absurdly nested array/kvlist attribute values.
        raise OtlpDecodeError(f"the {sig} export nests attribute values too deeply") from None


# -- converting the proto messages ---------------------------------------------------------


def _ms(nanos: int) -> float:
    return nanos / _NS_PER_MS


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        # Base64, as OTLP/JSON writes bytes values, so the result stays JSON-serialisable.
        return base64.b64encode(value.bytes_value).decode("ascii")
    # An AnyValue with nothing set: the SDK sends `"value": {}` for an unset
    # service.version resource attribute.
    return None


def _attributes(pairs: Iterable[KeyValue]) -> Attributes:
    # Later duplicates win, as in OpenTelemetry SDKs where setting a key again replaces it.
    return {pair.key: _value(pair.value) for pair in pairs}


def nonempty_text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _first_named(
    names: Sequence[str], attributes: Mapping[str, Any], resource: Mapping[str, Any]
) -> str | None:
    """The first non-empty text under one of `names`, the item's own attributes first."""
    for attrs in (attributes, resource):
        for name in names:
            text = nonempty_text(attrs.get(name))
            if text:
                return text
    return None


def _session(attributes: Mapping[str, Any], resource: Mapping[str, Any]) -> str | None:
    return _first_named(SESSION_ATTRIBUTES, attributes, resource)


def project_key(attributes: Mapping[str, Any], resource: Mapping[str, Any]) -> str | None:
    """The project an item names, as written (resolved like initializeSession's key)."""
    return _first_named(PROJECT_ATTRIBUTES, attributes, resource)


def _id(raw: bytes, size: int, where: str) -> str | None:
    """An optional id as lowercase hex; None when absent (empty)."""
    if not raw:
        return None
    if len(raw) != size:
        raise OtlpDecodeError(
            f"{where} must be {size} bytes ({size * 2} hex digits), got {len(raw)} bytes"
        )
    return raw.hex()


def _required_id(raw: bytes, size: int, where: str) -> str:
    # A span without its ids cannot be placed in a trace; the spec makes them mandatory.
    found = _id(raw, size, where)
    if found is None:
        raise OtlpDecodeError(f"{where} is missing (every span needs one)")
    return found


def _spans(request: ExportTraceServiceRequest) -> Iterator[Span]:
    for i, resource_spans in enumerate(request.resource_spans):
        resource = _attributes(resource_spans.resource.attributes)
        service = nonempty_text(resource.get("service.name"))
        for j, scope_spans in enumerate(resource_spans.scope_spans):
            scope = scope_spans.scope.name or None
            for k, span in enumerate(scope_spans.spans):
                where = f"resourceSpans[{i}].scopeSpans[{j}].spans[{k}]"
                attributes = _attributes(span.attributes)
                yield Span(
                    trace_id=_required_id(span.trace_id, _TRACE_ID_BYTES, f"{where}.traceId"),
                    span_id=_required_id(span.span_id, _SPAN_ID_BYTES, f"{where}.spanId"),
                    parent_span_id=_id(
                        span.parent_span_id, _SPAN_ID_BYTES, f"{where}.parentSpanId"
                    ),
                    name=span.name,
                    kind=_SPAN_KINDS.get(span.kind, str(span.kind)),
                    start=_ms(span.start_time_unix_nano),
                    end=_ms(span.end_time_unix_nano) if span.end_time_unix_nano else None,
                    attributes=attributes,
                    resource_attributes=resource,
                    status_code=_STATUS_CODES.get(span.status.code, str(span.status.code)),
                    status_message=span.status.message,
                    events=tuple(
                        SpanEvent(e.name, _ms(e.time_unix_nano), _attributes(e.attributes))
                        for e in span.events
                    ),
                    session_secure_id=_session(attributes, resource),
                    service_name=service,
                    scope_name=scope,
                )


def _logs(request: ExportLogsServiceRequest) -> Iterator[LogRecord]:
    for i, resource_logs in enumerate(request.resource_logs):
        resource = _attributes(resource_logs.resource.attributes)
        service = nonempty_text(resource.get("service.name"))
        for j, scope_logs in enumerate(resource_logs.scope_logs):
            scope = scope_logs.scope.name or None
            for k, record in enumerate(scope_logs.log_records):
                where = f"resourceLogs[{i}].scopeLogs[{j}].logRecords[{k}]"
                attributes = _attributes(record.attributes)
                nanos = record.time_unix_nano or record.observed_time_unix_nano
                yield LogRecord(
                    time=_ms(nanos) if nanos else None,
                    severity_text=record.severity_text,
                    severity_number=record.severity_number,
                    body=_body_text(record.body) if record.HasField("body") else "",
                    attributes=attributes,
                    resource_attributes=resource,
                    trace_id=_id(record.trace_id, _TRACE_ID_BYTES, f"{where}.traceId"),
                    span_id=_id(record.span_id, _SPAN_ID_BYTES, f"{where}.spanId"),
                    session_secure_id=_session(attributes, resource),
                    service_name=service,
                    scope_name=scope,
                    event_name=record.event_name or None,
                )


def _body_text(body: AnyValue) -> str:
    value = _value(body)
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json_text(value)


def json_text(value: Any) -> str:
    # NaN and infinities have no JSON spelling; write them as null rather than fail.
    if isinstance(value, float) and not math.isfinite(value):
        return "null"
    return msgspec.json.encode(value).decode("utf-8")


def _metrics(request: ExportMetricsServiceRequest) -> Iterator[MetricPoint]:
    for resource_metrics in request.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        service = nonempty_text(resource.get("service.name"))
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if kind is None:
                    continue  # a metric with no data carries no points
                for point in getattr(metric, kind).data_points:
                    if point.flags & _NO_RECORDED_VALUE:
                        continue
                    value: float | None
                    count: int | None = None
                    if kind in ("gauge", "sum"):
                        which = point.WhichOneof("value")
                        if which is None:
                            continue
                        value = float(getattr(point, which))
                    else:
                        # Histogram sums are optional (absent when negative values were
                        # recorded); a summary's sum is always there.
                        has_sum = kind == "summary" or point.HasField("sum")
                        value = float(point.sum) if has_sum else None
                        count = int(point.count)
                    attributes = _attributes(point.attributes)
                    yield MetricPoint(
                        name=metric.name,
                        kind=kind,
                        time=_ms(point.time_unix_nano),
                        value=value,
                        attributes=attributes,
                        resource_attributes=resource,
                        session_secure_id=_session(attributes, resource),
                        service_name=service,
                        count=count,
                        unit=metric.unit,
                        start_time=_ms(point.start_time_unix_nano)
                        if point.start_time_unix_nano
                        else None,
                    )
