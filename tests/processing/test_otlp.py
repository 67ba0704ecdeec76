"""Mapping decoded OTLP items onto the shared records: network requests, console messages,
logs and errors (footlight.processing.otlp), and decoding an export as the store keeps it.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from typing import Any

import pytest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from footlight.core.otlp import (
    LogRecord,
    decode_batch,
)
from footlight.core.records import StackFrame
from footlight.processing.otlp import (
    console_level,
    console_message,
    console_messages,
    decode_stored,
    exceptions,
    log_entry,
    log_error,
    network_request,
)
from footlight.store import OtlpBatch
from tests.helpers.otlp_exports import (
    JSON,
    LIMIT,
    PROTOBUF,
    SPAN_ID,
    T0,
    TRACE,
    TRACES,
    TRACES_BODY,
    decode_traces,
    kv,
    logs_request,
    one_span,
    raw_spans,
    span_named,
    string_value,
)


def test_stored_batches_decode_through_their_recorded_encoding() -> None:
    batch = OtlpBatch("traces", JSON, "gzip", 0, gzip.compress(TRACES_BODY))
    assert decode_stored(batch, LIMIT) == decode_traces()


@pytest.mark.parametrize(
    ("text", "number", "level"),
    [
        ("WARN", 13, "warn"),
        ("Info", 0, "info"),
        ("WARNING", 13, "warn"),  # Python's logging
        ("CRITICAL", 21, "fatal"),
        ("", 1, "trace"),
        ("", 4, "trace"),
        ("", 5, "debug"),
        ("", 9, "info"),
        ("", 13, "warn"),
        ("", 17, "error"),
        ("", 20, "error"),
        ("", 21, "fatal"),
        ("", 0, "log"),
    ],
)
def test_console_levels_come_from_severity_text_then_number(
    text: str, number: int, level: str
) -> None:
    assert console_level(text, number) == level


def test_console_message_from_a_log_record() -> None:
    body = logs_request().SerializeToString()
    first, second = decode_batch("logs", PROTOBUF, None, body, LIMIT).logs
    message = console_message(first)
    assert (message.timestamp, message.level, message.source) == (
        round((T0 + 500_000) / 1_000_000),
        "warn",
        "backend",  # a backend's log line (its resource is not a browser's), marked so
    )
    assert message.message == first.body
    assert message.attributes == first.attributes
    assert console_message(second).level == "error"
    timeless = LogRecord(None, "", 9, "x", {}, {}, None, None, None, None)
    assert console_message(timeless, received_at=1234).timestamp == 1234
    browser = LogRecord(1.0, "", 9, "x", {}, {"telemetry.sdk.language": "webjs"}, *[None] * 4)
    assert console_message(browser).source == "otlp"


def _log(
    severity: int,
    text: str = "",
    resource: dict[str, Any] | None = None,
    attrs: dict[str, Any] | None = None,
) -> LogRecord:
    return LogRecord(
        1_700_000_000_000.0,
        text,
        severity,
        "payment failed",
        attrs or {},
        resource or {},
        None,
        None,
        None,
        None,
    )


def test_a_log_entry_keeps_the_service_and_the_trace() -> None:
    body = logs_request().SerializeToString()
    first, _ = decode_batch("logs", PROTOBUF, None, body, LIMIT).logs
    resource = {
        "service.name": "checkout-api",
        "service.version": "1.2.3",
        "deployment.environment.name": "production",
    }
    entry = log_entry(replace(first, resource_attributes=resource))
    assert (entry.level, entry.message) == ("warn", first.body)
    assert (entry.service_name, entry.service_version, entry.environment) == (
        "checkout-api",
        "1.2.3",
        "production",
    )
    assert (entry.trace_id, entry.span_id) == (first.trace_id, first.span_id)
    assert entry.attributes == first.attributes


@pytest.mark.parametrize(
    ("record", "reported"),
    [
        # A backend's ERROR line (Python's logging.error), by number or by text alone.
        (_log(17), ("log", "payment failed")),
        (_log(0, "CRITICAL", attrs={"logger": "checkout"}), ("checkout", "payment failed")),
        # An exception logged at any level, as the OpenTelemetry conventions record it.
        (
            _log(9, attrs={"exception.type": "KeyError", "exception.message": "'sku'"}),
            ("KeyError", "'sku'"),
        ),
        # Below ERROR, or a browser's console.error (the browser SDK reports those itself).
        (_log(13, "WARNING"), None),
        (_log(17, resource={"telemetry.sdk.language": "webjs"}), None),
    ],
)
def test_error_log_records_are_errors(record: LogRecord, reported: tuple[str, str] | None) -> None:
    error = log_error(record)
    assert (None if error is None else (error.type, error.message)) == reported


def test_console_messages_from_the_sdk_log_spans() -> None:
    span = ProtoSpan(
        trace_id=TRACE,
        span_id=SPAN_ID,
        name="launchdarkly.js.log",
        start_time_unix_nano=T0,
        end_time_unix_nano=T0,
        attributes=[kv("highlight.session_id", string_value("s"))],
        events=[
            ProtoSpan.Event(
                name="log",
                time_unix_nano=T0 + 2_000_000,
                attributes=[
                    kv("log.severity", string_value("Warn")),
                    kv("log.message", string_value("disk almost full")),
                    kv("component", string_value("Cart")),
                ],
            ),
            ProtoSpan.Event(name="other", time_unix_nano=T0),
        ],
    )
    (message,) = console_messages(one_span(span))
    assert (message.timestamp, message.level, message.message) == (
        T0 // 1_000_000 + 2,
        "warn",
        "disk almost full",
    )
    assert message.attributes == {"component": "Cart"}
    assert message.source == "otlp"


# -- network -------------------------------------------------------------------------------


def test_fetch_and_xhr_spans_are_network_requests() -> None:
    batch = decode_traces()
    raw = {s["spanId"]: s for s in raw_spans(TRACES)}

    post = network_request(span_named(batch, "HTTP POST"))
    assert post is not None
    expected = raw["4af5c7fe7aec9a06"]
    assert (post.method, post.url, post.status, post.initiator) == (
        "POST",
        "http://localhost:37415/api/echo?from=page1",
        200,
        "fetch",
    )
    assert (post.start, post.end) == (
        int(expected["startTimeUnixNano"]) / 1_000_000,
        int(expected["endTimeUnixNano"]) / 1_000_000,
    )
    assert (post.trace_id, post.span_id, post.source) == (
        "a07a0eb812d3d117fbc262c0fde8bf26",
        "4af5c7fe7aec9a06",
        "otlp",
    )
    assert post.request is not None
    assert post.response is not None
    assert post.request["body"] == '{"hello":"world","page":"page1","password":"hunter2"}'
    assert post.request["headers"]["authorization"] == "[REDACTED]"
    assert post.request["headers"]["x-harness-header"] == "fetch-header-value"
    assert post.response["headers"]["x-harness-response"] == "echo"
    assert json.loads(post.response["body"])["received"] == {
        "hello": "world",
        "page": "page1",
        "password": "hunter2",
    }
    assert post.transfer_size == 1059

    missing = network_request(span_named(batch, "HTTP GET"))
    assert missing is not None
    assert (missing.method, missing.url, missing.status) == (
        "GET",
        "http://localhost:37415/api/missing",
        404,
    )
    assert missing.response is not None
    assert missing.response["body"] == '{"error":"not found"}'

    xhr = network_request(span_named(batch, "GET"))
    assert xhr is not None
    assert (xhr.method, xhr.url, xhr.status, xhr.initiator) == (
        "GET",
        "http://localhost:37415/api/echo?via=xhr",
        200,
        "xmlhttprequest",
    )
    assert xhr.request is not None
    assert xhr.request["headers"]["x-harness-xhr"] == "yes"
    assert xhr.request["body"] is None


def test_document_loads_are_requests_but_clicks_and_page_loads_are_not() -> None:
    batch = decode_traces()
    document = network_request(span_named(batch, "documentFetch"))
    assert document is not None
    assert (document.method, document.url, document.initiator, document.status) == (
        None,
        "http://localhost:37415/app/index.html",
        "navigation",
        None,
    )
    resources = [network_request(s) for s in batch.spans if s.name == "resourceFetch"]
    assert [(r.url, r.initiator) for r in resources if r is not None] == [
        ("http://localhost:37415/app/style.css", "resource"),
        ("http://localhost:37415/config.js", "resource"),
        ("http://localhost:37415/build/app.js", "resource"),
    ]
    assert network_request(span_named(batch, "documentLoad")) is None
    clicks = [s for s in batch.spans if s.name == "click"]
    assert len(clicks) == 10
    assert all(network_request(s) is None for s in clicks)


def test_current_semantic_convention_names_and_failures() -> None:
    span = ProtoSpan(
        trace_id=TRACE,
        span_id=SPAN_ID,
        name="HTTP PUT",
        kind=ProtoSpan.SpanKind.SPAN_KIND_CLIENT,
        start_time_unix_nano=T0,
        end_time_unix_nano=T0 + 30_000_000,
        attributes=[
            kv("http.request.method", string_value("put")),
            kv("url.full", string_value("https://api.example.com/cart")),
            kv("http.response.status_code", AnyValue(int_value=0)),
            kv("http.response.error", string_value("Failed to fetch")),
            kv(
                "http.request.header.accept",
                AnyValue(
                    array_value=ArrayValue(values=[string_value("text/html"), string_value("*/*")])
                ),
            ),
        ],
    )
    request = network_request(one_span(span, "@opentelemetry/instrumentation-fetch"))
    assert request is not None
    assert (request.method, request.url, request.status, request.initiator) == (
        "PUT",
        "https://api.example.com/cart",
        0,
        "fetch",
    )
    assert request.end == (T0 + 30_000_000) / 1_000_000
    assert request.request == {"headers": {"accept": "text/html, */*"}, "body": None}
    assert request.response == {"headers": {}, "body": None, "error": "Failed to fetch"}

    server = ProtoSpan(
        trace_id=TRACE,
        span_id=SPAN_ID,
        name="GET /cart",
        kind=ProtoSpan.SpanKind.SPAN_KIND_SERVER,
        attributes=[
            kv("http.method", string_value("GET")),
            kv("http.url", string_value("https://x/cart")),
        ],
    )
    assert network_request(one_span(server)) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (AnyValue(int_value=404), 404),
        (AnyValue(double_value=200.0), 200),
        (AnyValue(double_value=200.5), None),
        (AnyValue(double_value=1e300), None),  # no store's integer holds it
        (AnyValue(double_value=float("nan")), None),
        (string_value(" 204 "), 204),
        (string_value("²"), None),  # a digit to str.isdigit(), not to int()
        (string_value("1" * 5000), None),  # past the digits int() parses
        (string_value("-1"), None),
        (AnyValue(bool_value=True), None),
    ],
)
def test_status_and_size_are_read_from_plain_numbers_only(value: AnyValue, expected: int) -> None:
    span = ProtoSpan(
        trace_id=TRACE,
        span_id=SPAN_ID,
        name="HTTP GET",
        kind=ProtoSpan.SpanKind.SPAN_KIND_CLIENT,
        attributes=[
            kv("http.method", string_value("GET")),
            kv("http.url", string_value("https://api.example.com/cart")),
            kv("http.status_code", value),
            kv("http.response_content_length", value),
        ],
    )
    request = network_request(one_span(span))
    assert request is not None
    assert (request.status, request.transfer_size) == (expected, expected)


# -- errors --------------------------------------------------------------------------------

CHROME_STACK = (
    "TypeError: Cannot read properties of undefined (reading 'id')\n"
    "    at renderCart (https://shop.example/assets/app.js:10:5)\n"
    "    at async loadPage (https://shop.example/assets/app.js:220:17)\n"
    "    at https://shop.example/assets/vendor.js:1:2048\n"
    "    at <anonymous>"
)


def test_exception_events_become_errors_with_frames() -> None:
    span = ProtoSpan(
        trace_id=TRACE,
        span_id=SPAN_ID,
        name="checkout",
        start_time_unix_nano=T0,
        end_time_unix_nano=T0 + 9_000_000,
        status=Status(code=Status.StatusCode.STATUS_CODE_ERROR, message="failed"),
        events=[
            ProtoSpan.Event(name="click", time_unix_nano=T0),
            ProtoSpan.Event(
                name="exception",
                time_unix_nano=T0 + 4_000_000,
                attributes=[
                    kv("exception.type", string_value("TypeError")),
                    kv(
                        "exception.message",
                        string_value("Cannot read properties of undefined (reading 'id')"),
                    ),
                    kv("exception.stacktrace", string_value(CHROME_STACK)),
                ],
            ),
        ],
    )
    decoded = one_span(span)
    assert decoded.status_code == "error"
    (error,) = exceptions(decoded)
    assert error.timestamp == T0 // 1_000_000 + 4
    assert error.type == "TypeError"
    assert error.message == "Cannot read properties of undefined (reading 'id')"
    assert error.source == "otlp"
    assert error.frames == (
        StackFrame(
            file_name="https://shop.example/assets/app.js",
            function_name="renderCart",
            line_number=10,
            column_number=5,
            source="at renderCart (https://shop.example/assets/app.js:10:5)",
        ),
        StackFrame(
            file_name="https://shop.example/assets/app.js",
            function_name="loadPage",
            line_number=220,
            column_number=17,
            source="at async loadPage (https://shop.example/assets/app.js:220:17)",
        ),
        StackFrame(
            file_name="https://shop.example/assets/vendor.js",
            line_number=1,
            column_number=2048,
            source="at https://shop.example/assets/vendor.js:1:2048",
        ),
        StackFrame(source="at <anonymous>"),
    )


def test_sdk_error_spans_keep_highlight_error_kind_url_and_payload() -> None:
    # What `recordError` sends for an error its window.onerror listener caught: the stack
    # is a JSON array of error-stack-parser frames, Highlight's fields are span attributes.
    stack = json.dumps(
        ["boom (http://localhost:3000/app.js:3:9)", "http://localhost:3000/a.js:1:1"]
    )
    span = ProtoSpan(
        trace_id=TRACE,
        span_id=SPAN_ID,
        name="highlight.exception",
        start_time_unix_nano=T0,
        end_time_unix_nano=T0,
        attributes=[
            kv("type", string_value("window.onerror")),
            kv("url", string_value("http://localhost:3000/cart")),
            kv("payload", string_value('{"lineNumber":"3"}')),
            kv("event", string_value("Uncaught Error: boom:Uncaught Error: boom")),
        ],
        events=[
            ProtoSpan.Event(
                name="exception",
                time_unix_nano=T0,
                attributes=[
                    kv("exception.type", string_value("Error")),
                    kv("exception.message", string_value("Uncaught Error: boom")),
                    kv("exception.stacktrace", string_value(stack)),
                ],
            )
        ],
    )
    (error,) = exceptions(one_span(span))
    assert (error.type, error.message, error.url, error.payload) == (
        "window.onerror",
        "Uncaught Error: boom",
        "http://localhost:3000/cart",
        '{"lineNumber":"3"}',
    )
    assert [
        (f.function_name, f.file_name, f.line_number, f.column_number) for f in error.frames
    ] == [
        ("boom", "http://localhost:3000/app.js", 3, 9),
        (None, "http://localhost:3000/a.js", 1, 1),
    ]


def test_spans_without_exception_events_have_no_errors() -> None:
    assert all(exceptions(span) == [] for span in decode_traces().spans)
