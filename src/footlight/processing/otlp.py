"""Decoding stored OTLP/HTTP exports into spans, log records and metric points.

footlight stores every `/v1/traces`, `/v1/metrics` and `/v1/logs` request body as it came
(see `footlight.edge.otlp`); this module turns one such body into plain, typed records and
maps them onto the records processing shares (`NetworkRequest`, `ConsoleMessage`,
`ErrorOccurrence`).

Decoding uses the OpenTelemetry proto classes (`opentelemetry-proto`) for both encodings,
so every body goes through the same schema whichever way it was sent:

* `application/x-protobuf`: the message classes parse the bytes.
* `application/json`: OTLP/JSON is *not* protobuf's canonical JSON mapping, so the body
  cannot be handed to `json_format.Parse` as it is:

  - `traceId`, `spanId` and `parentSpanId` (on spans, span links, log records and metric
    exemplars) are hex strings, where canonical JSON encodes `bytes` fields as base64. The
    browser SDK sends hex, as the OTLP spec requires; read as base64 the same characters
    would decode "successfully" into the wrong bytes (a 32-digit hex trace id is valid
    base64 for 24 bytes). So the ids are converted from hex to base64 in the decoded
    document before parsing, and anything that is not hex is refused, as the Collector
    does.
  - enums (`kind`, `status.code`, `aggregationTemporality`...) may be integers; the SDK
    sends integers. `json_format` accepts integers and names alike.
  - 64-bit integers (`startTimeUnixNano`, `intValue`...) may be strings or numbers; the SDK
    sends strings for times and numbers for `intValue`. `json_format` accepts both.
  - receivers must ignore fields they do not know (the protocol grows by adding fields),
    so parsing passes `ignore_unknown_fields=True`.
  - keys are lowerCamelCase. `json_format` also accepts the proto field names, so the id
    conversion handles both spellings to keep the two consistent.

Anything undecodable (unknown signal, content type or encoding, gzip that does not inflate
or inflates past the limit, bad JSON, JSON shaped like another signal's export, bad
protobuf, ids that are not hex or not 16/8 bytes long) raises `OtlpDecodeError` with a
message that says exactly what and where.

The mapping helpers know how the Highlight/LaunchDarkly browser SDK (highlight.run 10.x,
`@launchdarkly/observability`) uses OpenTelemetry: every span and metric point carries the
session's secure id as `highlight.session_id`; fetch/XHR calls are CLIENT spans from the
fetch and xml-http-request instrumentations, with request/response headers and bodies as
`http.request.header.<name>`, `http.request.body`, ... attributes; page and subresource
loads are `documentFetch`/`resourceFetch` spans of the document-load instrumentation;
errors are `exception` span events (on `highlight.exception` spans, whose attributes also
carry Highlight's error kind and page URL); and its console messages arrive either as OTLP
log records or as `log` events on `launchdarkly.js.log` spans.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import msgspec
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from footlight.ingest.errors import IngestError, PayloadTooLarge
from footlight.ingest.payload import JSON_DECODE_ERRORS, gunzip
from footlight.processing.records import (
    ConsoleMessage,
    ErrorOccurrence,
    LogEntry,
    NetworkRequest,
    StackFrame,
)
from footlight.processing.values import whole
from footlight.store import OtlpBatch

Signal = Literal["traces", "metrics", "logs"]
Attributes: TypeAlias = dict[str, Any]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
SESSION_ATTRIBUTE = "highlight.session_id"
SESSION_ATTRIBUTES = (SESSION_ATTRIBUTE, "highlight_session_id", "launchdarkly.session_id")
"""Where SDKs name the browser session an item belongs to (span, log record or resource)."""
PROJECT_ATTRIBUTES = (
    "highlight.project_id",
    "highlight_project_id",
    "launchdarkly.project_id",
    "x-highlight-project",
)
"""Where SDKs name the project (a project id, verbose id or key; LaunchDarkly's SDK key)."""
# The span the SDK's `recordError` opens around `recordException`.
EXCEPTION_SPAN_NAME = "highlight.exception"
MAX_EXPORT_BYTES = 8 * 1024 * 1024
"""The largest decoded OTLP export (after gzip), whatever the general inflate limit. Parsing
costs memory many times the size when the body is made of empty messages (64 MiB of them took
2 GB), and real exports are kilobytes: 512 spans of the SDK are well under 1 MiB."""
MAX_ITEMS = 100_000
"""The most items (resources, scopes, spans, span events, log records, metrics and metric
points, together) one export may hold. The SDK's batch processors export at most 512 spans or
log records at a time (the OpenTelemetry JS default), and real highlight.run exports hold 18
spans with 68 events, or 32 metric points (tests/fixtures/otlp-*.json). Turning millions of
items into records takes seconds and gigabytes, and empty ones cost two bytes each on the
wire, so a small gzip body can hold millions."""

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


class OtlpDecodeError(Exception):
    """A stored OTLP export could not be decoded; `message` says exactly why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OtlpPayloadTooLarge(OtlpDecodeError):
    """A gzip body inflates past the limit it is decoded with."""


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


# -- decoding ------------------------------------------------------------------------------

Export: TypeAlias = (
    ExportTraceServiceRequest | ExportMetricsServiceRequest | ExportLogsServiceRequest
)
_TOP_KEYS: dict[Signal, tuple[str, str]] = {
    "traces": ("resourceSpans", "resource_spans"),
    "metrics": ("resourceMetrics", "resource_metrics"),
    "logs": ("resourceLogs", "resource_logs"),
}


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


def parse_export(
    signal: str,
    content_type: str,
    content_encoding: str | None,
    body: bytes,
    max_inflated_bytes: int,
) -> Export:
    """The export message of one OTLP/HTTP body of `signal`."""
    if signal not in _TOP_KEYS:
        raise OtlpDecodeError(f"unknown OTLP signal {signal!r} (traces, metrics or logs)")
    sig: Signal = signal  # narrowed to the literal by the membership test above
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in (PROTOBUF, JSON):
        raise OtlpDecodeError(
            f"OTLP content type must be {PROTOBUF} or {JSON}, got {content_type!r}"
        )
    if len(body) > MAX_EXPORT_BYTES:
        raise OtlpPayloadTooLarge(f"the OTLP export is larger than {MAX_EXPORT_BYTES} bytes")
    plain = _inflate(body, content_encoding, min(max_inflated_bytes, MAX_EXPORT_BYTES))
    return _parse_json(sig, plain) if media == JSON else _parse_protobuf(sig, plain)


def decode_export(request: Export) -> DecodedBatch:
    """The spans, log records or metric points of a parsed export."""
    sig = _signal_of(request)
    try:
        if isinstance(request, ExportTraceServiceRequest):
            return DecodedBatch(spans=list(_spans(request)))
        if isinstance(request, ExportLogsServiceRequest):
            return DecodedBatch(logs=list(_logs(request)))
        return DecodedBatch(metrics=list(_metrics(request)))
    except RecursionError:
        # Only reachable through absurdly nested array/kvlist attribute values.
        raise OtlpDecodeError(f"the {sig} export nests attribute values too deeply") from None


def decode_stored(batch: OtlpBatch, max_inflated_bytes: int) -> DecodedBatch:
    """`decode_batch` for an export as the store keeps it."""
    return decode_batch(
        batch.signal, batch.content_type, batch.content_encoding, batch.body, max_inflated_bytes
    )


def _inflate(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise OtlpDecodeError(f"OTLP content encoding {content_encoding!r} is not supported")
    # Checked here because the shared inflater's own message for this case speaks of the
    # replay payload's base64 wrapping, which an OTLP body does not have.
    if not body.startswith(b"\x1f\x8b"):
        raise OtlpDecodeError("the OTLP body is marked gzip but is not gzip data")
    try:
        return gunzip(body, limit, "the OTLP body")
    except PayloadTooLarge as exc:
        raise OtlpPayloadTooLarge(exc.message) from None
    except IngestError as exc:  # corrupt or truncated gzip
        raise OtlpDecodeError(exc.message) from None


def _signal_of(request: Export) -> Signal:
    if isinstance(request, ExportTraceServiceRequest):
        return "traces"
    if isinstance(request, ExportLogsServiceRequest):
        return "logs"
    return "metrics"


def _new_request(signal: Signal) -> Export:
    if signal == "traces":
        return ExportTraceServiceRequest()
    if signal == "metrics":
        return ExportMetricsServiceRequest()
    return ExportLogsServiceRequest()


def _parse_protobuf(signal: Signal, body: bytes) -> Export:
    request = _new_request(signal)
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise OtlpDecodeError(f"the {signal} export is not valid OTLP protobuf: {exc}") from None
    _check_size(signal, [getattr(request, _LEVELS[signal][0])], _proto_children)
    return request


def _parse_json(signal: Signal, body: bytes) -> Export:
    try:
        document = msgspec.json.decode(body)
    except JSON_DECODE_ERRORS as exc:
        raise OtlpDecodeError(f"the {signal} export is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise OtlpDecodeError(
            f"the {signal} export must be a JSON object, got {type(document).__name__}"
        )
    _check_shape(signal, document)
    # Before the id conversion and `json_format`, which spend Python time on every item.
    _check_size(signal, _json_children(document, _LEVELS[signal][0]), _json_children)
    _hex_ids_to_base64(signal, document)
    request = _new_request(signal)
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, ValueError, TypeError) as exc:
        raise OtlpDecodeError(f"the {signal} export is not valid OTLP/JSON: {exc}") from None
    return request


def _check_shape(signal: Signal, document: Mapping[str, Any]) -> None:
    """Refuse an export of another signal: with unknown fields ignored it would parse as empty."""
    if any(key in document for key in _TOP_KEYS[signal]):
        return
    for other, keys in _TOP_KEYS.items():
        found = next((key for key in keys if key in document), None)
        if found is not None:
            raise OtlpDecodeError(
                f"the body is an OTLP {other} export ({found}), not a {signal} export"
            )


# The repeated fields, outermost first, that hold what `MAX_ITEMS` counts; `data` stands for
# the points of a metric, whichever kind of data it has.
_LEVELS: dict[Signal, tuple[str, ...]] = {
    "traces": ("resource_spans", "scope_spans", "spans", "events"),
    "logs": ("resource_logs", "scope_logs", "log_records"),
    "metrics": ("resource_metrics", "scope_metrics", "metrics", "data"),
}
_METRIC_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")
_Children: TypeAlias = Callable[[Any, str], list[Sequence[Any]]]


def _check_size(signal: Signal, top: list[Sequence[Any]], children: _Children) -> None:
    if _count(top, _LEVELS[signal][1:], children, MAX_ITEMS) > MAX_ITEMS:
        raise OtlpDecodeError(
            f"the {signal} export holds more than {MAX_ITEMS} items (resources, scopes, spans,"
            " span events, log records, metrics and metric points together); send it in"
            " smaller batches"
        )


def _count(
    groups: list[Sequence[Any]], levels: Sequence[str], children: _Children, budget: int
) -> int:
    """The items in `groups` and below them along `levels`; stops early once past `budget`,
    so counting costs at most `budget` steps whatever the export holds."""
    total = sum(len(group) for group in groups)
    if total > budget or not levels:
        return total
    for group in groups:
        for node in group:
            total += _count(children(node, levels[0]), levels[1:], children, budget - total)
            if total > budget:
                return total
    return total


def _proto_children(node: Any, level: str) -> list[Sequence[Any]]:
    if level != "data":
        return [getattr(node, level)]
    kind = node.WhichOneof("data")
    return [getattr(node, kind).data_points] if kind else []


def _json_children(node: Any, level: str) -> list[Sequence[Any]]:
    if not isinstance(node, dict):
        return []
    if level == "data":
        return [
            points
            for kind in _METRIC_KINDS
            for data in _json_values(node, kind)
            for points in _json_children(data, "data_points")
        ]
    return [value for value in _json_values(node, level) if isinstance(value, list)]


def _json_values(node: dict[str, Any], name: str) -> list[Any]:
    """The values of `name` under either key spelling OTLP/JSON allows."""
    return [node[key] for key in dict.fromkeys((_lower_camel(name), name)) if key in node]


def _lower_camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)


_HEX = re.compile(r"[0-9a-fA-F]*")
_ID_FIELDS = (
    ("traceId", "trace_id"),
    ("spanId", "span_id"),
    ("parentSpanId", "parent_span_id"),
)
_DATA_KINDS = (
    ("gauge",),
    ("sum",),
    ("histogram",),
    ("exponentialHistogram", "exponential_histogram"),
)


def _hex_ids_to_base64(signal: Signal, document: dict[str, Any]) -> None:
    """Rewrite every OTLP/JSON hex id in place as the base64 `json_format` expects.

    Only the places the OTLP schema puts ids are visited; anything of an unexpected type is
    left alone for `json_format` to report.
    """
    top = _TOP_KEYS[signal]
    if signal == "traces":
        for where, span in _walk(document, top, ("scopeSpans", "scope_spans"), ("spans",)):
            _convert_ids(span, where)
            for i, link in _items(span, ("links",)):
                _convert_ids(link, f"{where}.links[{i}]")
    elif signal == "logs":
        scopes = ("scopeLogs", "scope_logs")
        for where, record in _walk(document, top, scopes, ("logRecords", "log_records")):
            _convert_ids(record, where)
    else:
        for where, metric in _walk(document, top, ("scopeMetrics", "scope_metrics"), ("metrics",)):
            for names in _DATA_KINDS:
                data = next((metric[n] for n in names if n in metric), None)
                for i, point in _items(data, ("dataPoints", "data_points")):
                    for j, exemplar in _items(point, ("exemplars",)):
                        _convert_ids(exemplar, f"{where}.{names[0]}.dataPoints[{i}].exemplars[{j}]")


def _walk(
    document: Mapping[str, Any],
    top: Sequence[str],
    scopes: Sequence[str],
    items: Sequence[str],
) -> Iterator[tuple[str, dict[str, Any]]]:
    for i, resource in _items(document, top):
        for j, scope in _items(resource, scopes):
            for k, item in _items(scope, items):
                yield f"{top[0]}[{i}].{scopes[0]}[{j}].{items[0]}[{k}]", item


def _items(container: object, names: Sequence[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    if not isinstance(container, dict):
        return
    for name in names:
        values = container.get(name)
        if isinstance(values, list):
            for i, value in enumerate(values):
                if isinstance(value, dict):
                    yield i, value


def _convert_ids(obj: dict[str, Any], where: str) -> None:
    for names in _ID_FIELDS:
        for name in names:
            value = obj.get(name)
            if not isinstance(value, str):
                continue
            if len(value) % 2 or not _HEX.fullmatch(value):
                raise OtlpDecodeError(
                    f"{where}.{name} must be a hex id (OTLP/JSON encodes ids as hex, "
                    f"not base64), got {value[:64]!r}"
                )
            obj[name] = base64.b64encode(bytes.fromhex(value)).decode("ascii")


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


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _first_named(
    names: Sequence[str], attributes: Mapping[str, Any], resource: Mapping[str, Any]
) -> str | None:
    """The first non-empty text under one of `names`, the item's own attributes first."""
    for attrs in (attributes, resource):
        for name in names:
            text = _text(attrs.get(name))
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
        service = _text(resource.get("service.name"))
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
        service = _text(resource.get("service.name"))
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
    return _json_text(value)


def _json_text(value: Any) -> str:
    # NaN and infinities have no JSON spelling; write them as null rather than fail.
    if isinstance(value, float) and not math.isfinite(value):
        return "null"
    return msgspec.json.encode(value).decode("utf-8")


def _metrics(request: ExportMetricsServiceRequest) -> Iterator[MetricPoint]:
    for resource_metrics in request.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        service = _text(resource.get("service.name"))
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


# -- who an item belongs to ----------------------------------------------------------------

MAX_PROJECTS = 16
"""The most distinct projects the items of no session in one export may name. An exporter
names its one project; more than a few is a stranger making every export a lookup each."""
_SESSION_NAMES = frozenset(SESSION_ATTRIBUTES)
_PROJECT_NAMES = frozenset(PROJECT_ATTRIBUTES)
_ITEM_NAMES: dict[Signal, tuple[str, str]] = {
    "traces": ("span", "spans"),
    "logs": ("log record", "log records"),
    "metrics": ("metric point", "metric points"),
}


def item_name(signal: Signal, count: int) -> str:
    """ "1 span", "3 log records": how many items of a signal."""
    one, many = _ITEM_NAMES[signal]
    return f"{count} {one if count == 1 else many}"


@dataclass(frozen=True)
class Claims:
    """What the items of an export say about whom they belong to."""

    items: int
    """Spans, log records or metric points decoded (metric points without a value are not
    counted: they carry nothing to keep)."""
    keys: frozenset[str]
    """The projects named by items of no session."""
    bare: int
    """Items that name neither a session nor a project."""


def _named(pairs: Iterable[KeyValue], names: Sequence[str], among: frozenset[str]) -> str | None:
    # As `_first_named` reads one attribute set: later duplicates win, non-strings are not names.
    found = {pair.key: pair.value.string_value for pair in pairs if pair.key in among}
    return next((found[name] for name in names if found.get(name)), None)


def _owned(request: Export) -> Iterator[tuple[Any, Any]]:
    """(resource, repeated items) for every run of items of an export."""
    if isinstance(request, ExportTraceServiceRequest):
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                yield resource_spans.resource, scope_spans.spans
    elif isinstance(request, ExportLogsServiceRequest):
        for resource_logs in request.resource_logs:
            for scope_logs in resource_logs.scope_logs:
                yield resource_logs.resource, scope_logs.log_records
    else:
        for resource_metrics in request.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    kind = metric.WhichOneof("data")
                    if kind is not None:
                        yield resource_metrics.resource, getattr(metric, kind).data_points


def _owners(request: Export) -> Iterator[tuple[Any, Any, bool, str | None]]:
    """(items, item, names a session, project named) for every item, the item's own
    attributes before its resource's (as `decode_export` reads them)."""
    for resource, items in _owned(request):
        resource_session = _named(resource.attributes, SESSION_ATTRIBUTES, _SESSION_NAMES)
        resource_project = _named(resource.attributes, PROJECT_ATTRIBUTES, _PROJECT_NAMES)
        for item in items:
            if resource_session or _named(item.attributes, SESSION_ATTRIBUTES, _SESSION_NAMES):
                yield items, item, True, None
            else:
                own = _named(item.attributes, PROJECT_ATTRIBUTES, _PROJECT_NAMES)
                yield items, item, False, own or resource_project


def claims(decoded: DecodedBatch) -> Claims:
    """What the decoded items of an export name (their attributes are decoded already, so
    this costs little beside decoding)."""
    items: list[Span | LogRecord | MetricPoint] = [
        *decoded.spans,
        *decoded.logs,
        *decoded.metrics,
    ]
    bare = 0
    keys: set[str] = set()
    for item in items:
        if item.session_secure_id is not None:
            continue
        key = project_key(item.attributes, item.resource_attributes)
        if key is None:
            bare += 1
        else:
            keys.add(key)
    return Claims(len(items), frozenset(keys), bare)


def count_items(request: Export) -> int:
    """The spans, log records or metric points of a parsed export."""
    return sum(len(items) for _, items in _owned(request))


def keep_attributed(request: Export, known: Collection[str], fallback: str | None) -> int:
    """Remove the items of `request` that name no session and no project in `known`; an
    item that names no project at all takes `fallback` (a known project, from the
    exporter's `x-highlight-project` header), written as its `highlight.project_id` so that
    processing reads it from the stored export. Returns how many items were removed."""
    dropped: dict[int, tuple[Any, list[Any]]] = {}
    for items, item, session, project in _owners(request):
        group = dropped.setdefault(id(items), (items, []))
        if session or (project is not None and project in known):
            group[1].append(item)
        elif project is None and fallback is not None:
            item.attributes.add(key=PROJECT_ATTRIBUTES[0]).value.string_value = fallback
            group[1].append(item)
    removed = 0
    for items, kept in dropped.values():
        if len(kept) == len(items):
            continue
        removed += len(items) - len(kept)
        copies = [type(item)() for item in kept]
        for copy, item in zip(copies, kept, strict=True):
            copy.CopyFrom(item)
        del items[:]
        items.extend(copies)
    return removed


def partial_success(signal: Signal, rejected: int, message: str) -> Message:
    """The Export*ServiceResponse of an export of which `rejected` items were not kept (of
    one whose items were all kept, it is empty)."""
    response: ExportTraceServiceResponse | ExportLogsServiceResponse | ExportMetricsServiceResponse
    if signal == "traces":
        response = ExportTraceServiceResponse()
        response.partial_success.rejected_spans = rejected
    elif signal == "logs":
        response = ExportLogsServiceResponse()
        response.partial_success.rejected_log_records = rejected
    else:
        response = ExportMetricsServiceResponse()
        response.partial_success.rejected_data_points = rejected
    response.partial_success.error_message = message
    return response


# -- mapping to the shared records ---------------------------------------------------------

_DOCUMENT_FETCH = "documentFetch"
_RESOURCE_FETCH = "resourceFetch"
# Span kinds that are never a browser's own outgoing request.
_NOT_CLIENT_KINDS = frozenset({"server", "producer", "consumer"})
_REQUEST_HEADER = "http.request.header."
_RESPONSE_HEADER = "http.response.header."


def _first(attributes: Mapping[str, Any], *keys: str) -> Any:
    """The value of the first key present: new semantic-convention names before old ones."""
    for key in keys:
        value = attributes.get(key)
        if value is not None:
            return value
    return None


# A status or a size as text: str.isdigit() would let in "²" (which int() refuses) and
# thousands of digits (past what int() parses, or a store's integers hold).
_DIGITS = re.compile(r"[0-9]{1,15}")


def _int(value: object) -> int | None:
    if isinstance(value, str):
        digits = value.strip()
        return int(digits) if _DIGITS.fullmatch(digits) else None
    if isinstance(value, float) and not value.is_integer():
        return None
    return whole(value)


def network_request(span: Span) -> NetworkRequest | None:
    """The HTTP request a browser span records, or None if the span is not one.

    A request is a span with an HTTP method and URL that is not server-side (the SDK's
    fetch and XHR instrumentations make CLIENT spans), or a document-load `documentFetch` /
    `resourceFetch` span, which records a page or subresource load by URL alone (the
    Resource Timing entry it comes from has no method). Click spans carry `url.full` but no
    method, and the `documentLoad` span is the page's load as a whole, so neither is one.
    """
    attrs = span.attributes
    url = _text(_first(attrs, "url.full", "http.url"))
    if url is None or span.kind in _NOT_CLIENT_KINDS:
        return None
    method = _text(_first(attrs, "http.request.method", "http.method"))
    if method is None and span.name not in (_DOCUMENT_FETCH, _RESOURCE_FETCH):
        return None
    request = _message(attrs, _REQUEST_HEADER, "http.request.body")
    response = _message(attrs, _RESPONSE_HEADER, "http.response.body")
    failure = _text(attrs.get("http.response.error"))
    if failure is not None:
        # The SDK's fetch hook records a network failure (no Response) this way.
        response = {**(response or {"headers": {}, "body": None}), "error": failure}
    return NetworkRequest(
        start=span.start,
        end=span.end,
        method=method.upper() if method else None,
        url=url,
        status=_int(_first(attrs, "http.response.status_code", "http.status_code")),
        initiator=_initiator(span),
        request=request,
        response=response,
        # Resource timing's size when the SDK sent it; otherwise the response's length,
        # the closest measure the fetch/XHR instrumentations record.
        transfer_size=_int(
            _first(
                attrs,
                "http.response.size",
                "http.response.body.size",
                "http.response_content_length",
            )
        ),
        trace_id=span.trace_id,
        span_id=span.span_id,
        source="otlp",
    )


def _initiator(span: Span) -> str:
    """The browser's initiator type, as the replay payload's resources name it."""
    component = _text(span.attributes.get("component"))
    scope = span.scope_name or ""
    # The fetch instrumentation sets `component: fetch`; the XHR one sets nothing, so its
    # instrumentation scope (or component `xml-http-request`, in older versions) tells.
    if component in ("xml-http-request", "xmlhttprequest") or scope.endswith(
        "instrumentation-xml-http-request"
    ):
        return "xmlhttprequest"
    if component == "fetch" or scope.endswith("instrumentation-fetch"):
        return "fetch"
    if span.name == _DOCUMENT_FETCH:
        return "navigation"  # PerformanceNavigationTiming's initiatorType
    if span.name == _RESOURCE_FETCH:
        return "resource"  # the instrumentation does not record which kind of resource
    return component or span.kind


def _message(attrs: Mapping[str, Any], header_prefix: str, body_key: str) -> dict[str, Any] | None:
    headers = {
        key[len(header_prefix) :]: _header_value(value)
        for key, value in attrs.items()
        if key.startswith(header_prefix)
    }
    raw_body = attrs.get(body_key)
    if not headers and raw_body is None:
        return None
    body = raw_body if raw_body is None or isinstance(raw_body, str) else _json_text(raw_body)
    return {"headers": headers, "body": body}


def _header_value(value: object) -> str:
    # The SDK splits list-valued headers (accept, cache-control...) into string arrays;
    # joining restores the header as it was sent.
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return value if isinstance(value, str) else _json_text(value)


_LEVELS_BY_SEVERITY = ((4, "trace"), (8, "debug"), (12, "info"), (16, "warn"), (20, "error"))


# Backend loggers' names for the browser console's levels (Python's WARNING, CRITICAL).
_LEVEL_ALIASES = {"warning": "warn", "critical": "fatal"}


def console_level(severity_text: str, severity_number: int) -> str:
    """The console level of an OTLP severity: its text, lower-cased (as the console names
    it), else its number's range."""
    text = severity_text.strip().lower()
    if text:
        return _LEVEL_ALIASES.get(text, text)
    if severity_number <= 0:
        return "log"  # SEVERITY_NUMBER_UNSPECIFIED: console.log has no severity either
    for upper, level in _LEVELS_BY_SEVERITY:
        if severity_number <= upper:
            return level
    return "fatal"


def _log_time(log: LogRecord, received_at: int | None) -> float:
    """A record's time; `received_at` (epoch ms, its stored batch's) for one that carries
    neither a time nor an observed time."""
    return log.time if log.time is not None else float(received_at or 0)


def console_message(log: LogRecord, received_at: int | None = None) -> ConsoleMessage:
    """An OTLP log record as a console message.

    `received_at` (epoch ms, the stored batch's) stands in for the time of a record that
    carries neither a time nor an observed time.
    """
    time = _log_time(log, received_at)
    return ConsoleMessage(
        timestamp=round(time),
        level=console_level(log.severity_text, log.severity_number),
        message=log.body,
        trace=_stack_of(log.attributes),
        attributes=dict(log.attributes),
        source="otlp" if is_browser(log.resource_attributes) else "backend",
    )


def console_messages(span: Span) -> list[ConsoleMessage]:
    """Console messages the SDK sent as `log` events (`log.severity`, `log.message`) of a span.

    `@launchdarkly/observability`'s `recordLog` opens a `launchdarkly.js.log` span with such
    an event instead of emitting an OTLP log record. The span's name is not checked: the
    events say what they are, and other LaunchDarkly SDKs name their spans otherwise
    (`launchdarkly.flutter.log`).
    """
    messages = []
    for event in span.events:
        message = event.attributes.get("log.message")
        if event.name != "log" or message is None:
            continue
        severity = _text(event.attributes.get("log.severity")) or "log"
        rest = {
            k: v for k, v in event.attributes.items() if k not in ("log.message", "log.severity")
        }
        messages.append(
            ConsoleMessage(
                timestamp=round(event.time),
                level=severity.lower(),
                message=message if isinstance(message, str) else _json_text(message),
                trace=_stack_of(rest),
                attributes=rest,
                source="otlp",
            )
        )
    return messages


def _stack_of(attributes: Mapping[str, Any]) -> tuple[StackFrame, ...]:
    stack = _text(_first(attributes, "exception.stacktrace", "code.stacktrace"))
    return parse_stacktrace(stack) if stack else ()


def exceptions(span: Span) -> list[ErrorOccurrence]:
    """The errors a span records as `exception` events.

    On the SDK's `highlight.exception` spans the span's own attributes carry Highlight's
    error kind (`type`: window.onerror, console.error, custom, React.ErrorBoundary), the page
    `url` and the JSON `payload`; those are used when present, so errors look the same
    whichever way the SDK sent them. Elsewhere the type is the exception's class
    (`exception.type`).
    """
    attrs = span.attributes
    own = span.name == EXCEPTION_SPAN_NAME
    name, version, environment = service_of(span.resource_attributes)
    errors = []
    for event in span.events:
        if event.name != "exception":
            continue
        ev = event.attributes
        kind = (_text(attrs.get("type")) if own else None) or _text(ev.get("exception.type"))
        message = _text(ev.get("exception.message")) or (_text(attrs.get("event")) if own else None)
        stack = _text(ev.get("exception.stacktrace"))
        errors.append(
            ErrorOccurrence(
                timestamp=round(event.time),
                type=kind or "exception",
                message=message or "",
                frames=parse_stacktrace(stack) if stack else (),
                url=_text(attrs.get("url")) if own else None,
                payload=_text(attrs.get("payload")) if own else None,
                source="otlp",
                service_name=name,
                service_version=version,
                environment=environment,
            )
        )
    return errors


def is_browser(resource: Mapping[str, Any]) -> bool:
    """Whether a resource is a browser SDK's (OpenTelemetry JS in a page says `webjs`)."""
    return resource.get("telemetry.sdk.language") == "webjs"


def service_of(resource: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(service name, version, environment) a resource names, each None when absent."""
    return (
        _text(resource.get("service.name")),
        _text(resource.get("service.version")),
        _text(_first(resource, "deployment.environment.name", "deployment.environment")),
    )


_ERROR_SEVERITY = 17  # SEVERITY_NUMBER_ERROR
_ERROR_LEVELS = frozenset({"error", "fatal"})


def log_entry(log: LogRecord, received_at: int | None = None) -> LogEntry:
    """An OTLP log record as a row of the logs (times as `console_message` reads them)."""
    name, version, environment = service_of(log.resource_attributes)
    time = _log_time(log, received_at)
    return LogEntry(
        timestamp=round(time),
        level=console_level(log.severity_text, log.severity_number),
        message=log.body,
        service_name=name,
        service_version=version,
        environment=environment,
        trace_id=log.trace_id,
        span_id=log.span_id,
        attributes=dict(log.attributes),
    )


def log_error(log: LogRecord, received_at: int | None = None) -> ErrorOccurrence | None:
    """The error a log record reports, or None.

    A record reports one when it carries OpenTelemetry's exception attributes
    (`exception.type` / `exception.message`, as loggers do for a caught exception), or when
    a backend logs at ERROR or above. A browser's error-level console messages are left
    alone: the browser SDK reports its errors itself, and they would be counted twice.
    """
    attrs = log.attributes
    kind = _text(attrs.get("exception.type"))
    message = _text(attrs.get("exception.message"))
    if kind is None and message is None:
        severe = (
            log.severity_number >= _ERROR_SEVERITY
            or console_level(log.severity_text, 0) in _ERROR_LEVELS
        )
        if not severe or is_browser(log.resource_attributes):
            return None
    name, version, environment = service_of(log.resource_attributes)
    time = _log_time(log, received_at)
    stack = _text(attrs.get("exception.stacktrace"))
    return ErrorOccurrence(
        timestamp=round(time),
        type=kind or _text(attrs.get("logger")) or "log",
        message=message or log.body,
        frames=parse_stacktrace(stack) if stack else (),
        source="otlp",
        service_name=name,
        service_version=version,
        environment=environment,
    )


# "fn@file:line:col" (Firefox, Safari); fn may be empty.
_AT_FRAME = re.compile(r"^(?P<fn>[^@]*)@(?P<loc>.+)$")
_LOCATION = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::(?P<col>\d+))?$")


# Python: '  File "/app/views.py", line 12, in checkout', then the line of code.
_PYTHON_TRACEBACK = "Traceback (most recent call last):"
_PYTHON_FRAME = re.compile(r'^File "(?P<file>[^"]*)", line (?P<line>\d+)(?:, in (?P<fn>.+))?$')


def parse_stacktrace(text: str) -> tuple[StackFrame, ...]:
    """Stack frames from a JavaScript (or Python) stack trace, innermost first.

    Understands V8's "    at fn (https://x/app.js:10:5)" lines, Firefox/Safari's
    "fn@https://x/app.js:10:5" lines, and the JSON array of frame strings
    ("fn (https://x/app.js:10:5)") the SDK's error listener puts in `exception.stacktrace`
    for errors it caught itself. Lines that are not frames (the "TypeError: ..." header, a
    multi-line message) are skipped; a frame line whose location cannot be read is kept
    with only its `source`, the line as written.
    """
    if _PYTHON_TRACEBACK in text:
        return _python_frames(text)
    listed = _json_frames(text)
    lines = listed if listed is not None else text.splitlines()
    frames = []
    for raw in lines:
        line = raw.strip()
        if line.startswith("at "):
            frames.append(_paren_frame(line[3:].strip(), line))
        elif (at := _AT_FRAME.match(line)) and _LOCATION.match(at["loc"]):
            frames.append(_located(at["fn"], at["loc"], line))
        elif listed is not None and line:
            frames.append(_paren_frame(line, line))
    return tuple(frames)


def _python_frames(text: str) -> tuple[StackFrame, ...]:
    """The frames of a Python traceback (`traceback.format_exception`, what backend SDKs
    put in `exception.stacktrace`), innermost first as in JavaScript's. Of chained
    exceptions ("During handling of the above exception ...") the last is the one raised."""
    last = text[text.rindex(_PYTHON_TRACEBACK) + len(_PYTHON_TRACEBACK) :]
    frames = []
    for raw in last.splitlines():
        match = _PYTHON_FRAME.match(raw.strip())
        if match is not None:
            frames.append(
                StackFrame(
                    file_name=match["file"],
                    function_name=match["fn"],
                    line_number=int(match["line"]),
                    source=raw.strip(),
                )
            )
    frames.reverse()
    return tuple(frames)


def _json_frames(text: str) -> list[str] | None:
    if not text.lstrip().startswith("["):
        return None
    try:
        value = msgspec.json.decode(text)
    except JSON_DECODE_ERRORS:
        return None
    if not isinstance(value, list):
        return None
    return [item for item in value if isinstance(item, str)]


def _paren_frame(body: str, line: str) -> StackFrame:
    """A frame written "fn (file:line:col)" or "file:line:col", as V8 writes after "at " and
    as the SDK's error-stack-parser frames print themselves."""
    split = _split_paren(body)
    if split is None:
        return _located(None, body, line)
    function, location = split
    # V8 marks awaited frames "async fn"; the function is still fn.
    return _located(function.removeprefix("async "), location, line)


def _split_paren(body: str) -> tuple[str, str] | None:
    """("fn", "loc") of "fn (loc)": fn up to the first " (", loc up to the final ")".

    Not a regex: with a lazy fn and a greedy loc one, every " (" costs a scan to the end of
    the line, and a line of thousands of them takes seconds.
    """
    if "\n" in body or not body.endswith(")"):
        return None
    cut = body.find(" (", 1)
    # Neither part may be empty, as the regex this replaces required.
    if cut < 0 or cut + 3 >= len(body):
        return None
    return body[:cut], body[cut + 2 : -1]


def _located(function: str | None, location: str, line: str) -> StackFrame:
    match = _LOCATION.match(location)
    if match is None:
        # "<anonymous>", "native": no file position to read.
        return StackFrame(function_name=function or None, source=line)
    return StackFrame(
        file_name=match["file"],
        function_name=function or None,
        line_number=int(match["line"]),
        column_number=int(match["col"]) if match["col"] else None,
        source=line,
    )
