"""Who the items of an OTLP export belong to: a session, a project, or nobody.

Ingest refuses an export none of whose items footlight can attribute, and keeps the
attributed rest of a mixed one (answered with OTLP's `partial_success`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from footlight.core.otlp._decode import PROJECT_ATTRIBUTES, SESSION_ATTRIBUTES, Export, Signal
from footlight.core.otlp._items import DecodedBatch, LogRecord, MetricPoint, Span, project_key

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
