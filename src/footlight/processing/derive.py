"""OTLP batches and backend errors → derived rows (sessions are in `session.py`).

An OTLP export can carry data of several sessions; each row it yields names its session by
the `highlight.session_id` attribute. Spans are kept as spans and, for HTTP client spans,
also as network requests; span `exception` events become errors; logs become console
messages of their session and rows of the logs (of their session, or of the project their
exporter names), and those that report an error errors too; the `log` events of spans become
console messages (the LaunchDarkly successor SDK sends console output on
`launchdarkly.js.log` spans, and console, errors and network only over OTLP).
"""

from __future__ import annotations

import logging
import math

from footlight.core.otlp import DecodedBatch, LogRecord, MetricPoint, Span, project_key
from footlight.core.records import ErrorOccurrence, StackFrame
from footlight.errors import OtlpDecodeError
from footlight.processing import otlp
from footlight.processing.fingerprint import fingerprint
from footlight.processing.values import json_list, stack_frames
from footlight.store.base import (
    BackendErrorInput,
    Derived,
    DerivedLog,
    DerivedOccurrence,
    MetricRecord,
    OtlpBatch,
    ServiceSeen,
    SpanRecord,
)

log = logging.getLogger("footlight.processing")


_MAX_SERVICES_SEEN = 1_000
"""Distinct (service, session or project) pairs one export may report as seen; an export
names one or a few, and the store lists at most max_backend_services a project anyway."""


def _services_seen(decoded: DecodedBatch, at: int) -> list[ServiceSeen]:
    """The backend services an export came from, each with the project its items name (or,
    naming none, their session): what tells a user their backend SDK is wired."""
    seen: dict[tuple[str, str | None, str | None], None] = {}
    items: list[Span | LogRecord | MetricPoint] = [
        *decoded.spans,
        *decoded.logs,
        *decoded.metrics,
    ]
    for item in items:
        if otlp.is_browser(item.resource_attributes):
            continue
        key = project_key(item.attributes, item.resource_attributes)
        session = None if key else item.session_secure_id
        if key or session:
            seen[(item.service_name or "", session, key)] = None
            if len(seen) >= _MAX_SERVICES_SEEN:
                break
    return [ServiceSeen(name, at, session, project_key=key) for name, session, key in seen]


def _derived_error(
    error: ErrorOccurrence, session: str | None, project_key: str | None, trace_id: str | None
) -> DerivedOccurrence:
    return DerivedOccurrence(
        error,
        fingerprint(error.type, error.message, error.frames),
        session,
        project_key=project_key,
        trace_id=trace_id,
    )


def derive_otlp(batch: OtlpBatch, origin: str, max_inflated_bytes: int) -> Derived:
    derived = Derived(origin=origin)
    try:
        decoded = otlp.decode_stored(batch, max_inflated_bytes)
    except OtlpDecodeError as exc:
        # Checked at ingest; only an export stored under other limits gets here, and retrying
        # cannot help, so it yields nothing rather than failing forever.
        log.warning("%s cannot be decoded: %s", origin, exc.message)
        return derived
    derived.services = _services_seen(decoded, batch.received_at)
    for span in decoded.spans:
        derived.spans.append(
            SpanRecord(
                session_secure_id=span.session_secure_id,
                trace_id=span.trace_id,
                span_id=span.span_id,
                parent_span_id=span.parent_span_id,
                name=span.name,
                kind=span.kind,
                started_at=span.start,
                ended_at=span.end,
                status_code=span.status_code,
                service_name=span.service_name,
                attributes=dict(span.attributes),
                events=[
                    {"name": e.name, "time": e.time, "attributes": dict(e.attributes)}
                    for e in span.events
                ],
            )
        )
        session = span.session_secure_id
        # A backend error outside any browser session (a cron job, an API client) is kept
        # for the project the exporter names, on the errors page without a session.
        key = None if session else project_key(span.attributes, span.resource_attributes)
        if session is None and key is None:
            continue  # refused at ingest; only an export stored before that gets here
        for error in otlp.exceptions(span):
            derived.errors.append(_derived_error(error, session, key, span.trace_id))
        if session is None:
            continue
        request = otlp.network_request(span)
        if request is not None:
            derived.network.append((session, request))
        for message in otlp.console_messages(span):
            derived.console.append((session, message))
    for record in decoded.logs:
        session = record.session_secure_id
        key = None if session else project_key(record.attributes, record.resource_attributes)
        if session is None and key is None:
            continue  # refused at ingest; only an export stored before that gets here
        entry = otlp.log_entry(record, batch.received_at)
        derived.logs.append(DerivedLog(entry, session, project_key=key))
        if session is not None:
            derived.console.append((session, otlp.console_message(record, batch.received_at)))
        reported = otlp.log_error(record, batch.received_at)
        if reported is not None:
            derived.errors.append(_derived_error(reported, session, key, record.trace_id))
    for point in decoded.metrics:
        # The store keeps a number: NaN would be NULL there, failing the whole export.
        if point.value is not None and math.isfinite(point.value):
            derived.metrics.append(
                MetricRecord(
                    point.session_secure_id,
                    point.name,
                    point.time,
                    point.value,
                    dict(point.attributes),
                )
            )
    return derived


def _backend_frames(stack_trace: str) -> tuple[StackFrame, ...]:
    """Backend SDKs send a JSON list of frames, or plain text; keep either."""
    frames = stack_frames(json_list(stack_trace))
    if frames or not stack_trace.strip():
        return frames
    return (StackFrame(source=stack_trace),)


def derive_backend_error(item: BackendErrorInput, origin: str) -> Derived:
    e = item.error
    occurrence = ErrorOccurrence(
        timestamp=e.timestamp,
        type=e.type or "Backend",
        message=e.event,
        frames=_backend_frames(e.stack_trace),
        url=e.url or None,
        payload=e.payload,
        source="backend",
        service_name=e.service_name,
        service_version=e.service_version,
        environment=e.environment,
    )
    return Derived(
        origin=origin,
        errors=[
            DerivedOccurrence(
                occurrence,
                fingerprint(occurrence.type, occurrence.message, occurrence.frames),
                e.session_secure_id,
                item.project_id,
            )
        ],
    )
