"""Bytes to an OTLP export message: the body as an exporter sent it, checked and parsed.

See `footlight.core.otlp` for what is accepted and why.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeAlias

import msgspec
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from footlight.core.payload import JSON_DECODE_ERRORS, gunzip
from footlight.errors import IngestError, OtlpDecodeError, OtlpPayloadTooLarge, PayloadTooLarge

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


Export: TypeAlias = (
    ExportTraceServiceRequest | ExportMetricsServiceRequest | ExportLogsServiceRequest
)
_TOP_KEYS: dict[Signal, tuple[str, str]] = {
    "traces": ("resourceSpans", "resource_spans"),
    "metrics": ("resourceMetrics", "resource_metrics"),
    "logs": ("resourceLogs", "resource_logs"),
}


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


def signal_of(request: Export) -> Signal:
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
