"""OTLP items as the records processing shares: requests, console lines, errors, logs.

The items come decoded by `footlight.core.otlp` from the exports the store kept. The
mapping knows how the Highlight/LaunchDarkly browser SDK (highlight.run 10.x,
`@launchdarkly/observability`) uses OpenTelemetry: every span and metric point carries the
session's secure id as `highlight.session_id`; fetch/XHR calls are CLIENT spans from the
fetch and xml-http-request instrumentations, with request/response headers and bodies as
`http.request.header.<name>`, `http.request.body`, ... attributes; page and subresource
loads are `documentFetch`/`resourceFetch` spans of the document-load instrumentation;
errors are `exception` span events (on `highlight.exception` spans, whose attributes also
carry Highlight's error kind and page URL); and its console messages arrive either as OTLP
log records or as `log` events on `launchdarkly.js.log` spans. Backend SDKs' records are
told apart by their resource (`telemetry.sdk.language` is `webjs` only in a browser).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from footlight.core.otlp import (
    DecodedBatch,
    LogRecord,
    Span,
    decode_batch,
    json_text,
    nonempty_text,
)
from footlight.core.records import (
    ConsoleMessage,
    ErrorOccurrence,
    LogEntry,
    NetworkRequest,
    StackFrame,
)
from footlight.processing.stacks import parse_stacktrace
from footlight.processing.values import whole
from footlight.store import OtlpBatch

# The span the SDK's `recordError` opens around `recordException`.
EXCEPTION_SPAN_NAME = "highlight.exception"


def decode_stored(batch: OtlpBatch, max_inflated_bytes: int) -> DecodedBatch:
    """`decode_batch` for an export as the store keeps it."""
    return decode_batch(
        batch.signal, batch.content_type, batch.content_encoding, batch.body, max_inflated_bytes
    )


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
    url = nonempty_text(_first(attrs, "url.full", "http.url"))
    if url is None or span.kind in _NOT_CLIENT_KINDS:
        return None
    method = nonempty_text(_first(attrs, "http.request.method", "http.method"))
    if method is None and span.name not in (_DOCUMENT_FETCH, _RESOURCE_FETCH):
        return None
    request = _message(attrs, _REQUEST_HEADER, "http.request.body")
    response = _message(attrs, _RESPONSE_HEADER, "http.response.body")
    failure = nonempty_text(attrs.get("http.response.error"))
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
    component = nonempty_text(span.attributes.get("component"))
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
    body = raw_body if raw_body is None or isinstance(raw_body, str) else json_text(raw_body)
    return {"headers": headers, "body": body}


def _header_value(value: object) -> str:
    # The SDK splits list-valued headers (accept, cache-control...) into string arrays;
    # joining restores the header as it was sent.
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return value if isinstance(value, str) else json_text(value)


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
        severity = nonempty_text(event.attributes.get("log.severity")) or "log"
        rest = {
            k: v for k, v in event.attributes.items() if k not in ("log.message", "log.severity")
        }
        messages.append(
            ConsoleMessage(
                timestamp=round(event.time),
                level=severity.lower(),
                message=message if isinstance(message, str) else json_text(message),
                trace=_stack_of(rest),
                attributes=rest,
                source="otlp",
            )
        )
    return messages


def _stack_of(attributes: Mapping[str, Any]) -> tuple[StackFrame, ...]:
    stack = nonempty_text(_first(attributes, "exception.stacktrace", "code.stacktrace"))
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
        kind = (nonempty_text(attrs.get("type")) if own else None) or nonempty_text(
            ev.get("exception.type")
        )
        message = nonempty_text(ev.get("exception.message")) or (
            nonempty_text(attrs.get("event")) if own else None
        )
        stack = nonempty_text(ev.get("exception.stacktrace"))
        errors.append(
            ErrorOccurrence(
                timestamp=round(event.time),
                type=kind or "exception",
                message=message or "",
                frames=parse_stacktrace(stack) if stack else (),
                url=nonempty_text(attrs.get("url")) if own else None,
                payload=nonempty_text(attrs.get("payload")) if own else None,
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
        nonempty_text(resource.get("service.name")),
        nonempty_text(resource.get("service.version")),
        nonempty_text(_first(resource, "deployment.environment.name", "deployment.environment")),
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
    kind = nonempty_text(attrs.get("exception.type"))
    message = nonempty_text(attrs.get("exception.message"))
    if kind is None and message is None:
        severe = (
            log.severity_number >= _ERROR_SEVERITY
            or console_level(log.severity_text, 0) in _ERROR_LEVELS
        )
        if not severe or is_browser(log.resource_attributes):
            return None
    name, version, environment = service_of(log.resource_attributes)
    time = _log_time(log, received_at)
    stack = nonempty_text(attrs.get("exception.stacktrace"))
    return ErrorOccurrence(
        timestamp=round(time),
        type=kind or nonempty_text(attrs.get("logger")) or "log",
        message=message or log.body,
        frames=parse_stacktrace(stack) if stack else (),
        source="otlp",
        service_name=name,
        service_version=version,
        environment=environment,
    )
