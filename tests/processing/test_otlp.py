"""Decoding stored OTLP exports (JSON and protobuf, plain and gzip) into spans, log records
and metric points, refusing what cannot be decoded, and mapping them to the shared records.

The JSON inputs are real exports of highlight.run 10.7.5; the protobuf inputs are the same
data encoded with the OpenTelemetry proto classes, so both paths must agree exactly.
"""

from __future__ import annotations

import copy
import gzip
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
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
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Summary,
    SummaryDataPoint,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Status
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from footlight.core.otlp import (
    MAX_EXPORT_BYTES,
    MAX_ITEMS,
    DecodedBatch,
    LogRecord,
    Span,
    decode_batch,
    project_key,
)
from footlight.core.records import StackFrame
from footlight.errors import OtlpDecodeError, OtlpPayloadTooLarge
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
from footlight.processing.stacks import parse_stacktrace
from footlight.store import OtlpBatch
from tests.helpers.paths import FIXTURES

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
LIMIT = 1 << 24
SESSION = "hrOIqIHeums7VmNIhydrOk1atr8K"

# Real exports of highlight.run 10.7.5, byte for byte as the SDK posted them.
TRACES_BODY = (FIXTURES / "otlp-traces.json").read_bytes()
METRICS_BODY = (FIXTURES / "otlp-metrics.json").read_bytes()
TRACES: dict[str, Any] = json.loads(TRACES_BODY)
METRICS: dict[str, Any] = json.loads(METRICS_BODY)


def _raw_spans(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for resource_spans in doc["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            yield from scope_spans["spans"]


def _raw_points(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for resource_metrics in doc["resourceMetrics"]:
        for scope_metrics in resource_metrics["scopeMetrics"]:
            for metric in scope_metrics["metrics"]:
                for kind in ("gauge", "sum"):
                    for point in metric.get(kind, {}).get("dataPoints", []):
                        yield metric["name"], kind, point


def _traces_as_protobuf(doc: dict[str, Any]) -> bytes:
    """The export encoded with the proto classes, ids set from the hex as raw bytes.

    The ids are taken out before `ParseDict` (which would read them as base64) and set on
    the parsed spans directly, independently of how the module converts them.
    """
    doc = copy.deepcopy(doc)
    ids: list[dict[str, str]] = []
    for span in _raw_spans(doc):
        ids.append({k: span.pop(k) for k in ("traceId", "spanId", "parentSpanId") if k in span})
    request = ExportTraceServiceRequest()
    json_format.ParseDict(doc, request, ignore_unknown_fields=True)
    spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert len(spans) == len(ids)
    for proto_span, hex_ids in zip(spans, ids, strict=True):
        proto_span.trace_id = bytes.fromhex(hex_ids["traceId"])
        proto_span.span_id = bytes.fromhex(hex_ids["spanId"])
        if "parentSpanId" in hex_ids:
            proto_span.parent_span_id = bytes.fromhex(hex_ids["parentSpanId"])
    return request.SerializeToString()


def _decode_traces(body: bytes = TRACES_BODY) -> DecodedBatch:
    return decode_batch("traces", JSON, None, body, LIMIT)


def _span_named(batch: DecodedBatch, name: str) -> Span:
    return next(s for s in batch.spans if s.name == name)


def _kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def _s(text: str) -> AnyValue:
    return AnyValue(string_value=text)


def _one_span(span: ProtoSpan, scope: str = "highlight-browser") -> Span:
    """A hand-built span, exported as protobuf and decoded the way stored batches are."""
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=[_kv("service.name", _s("shop"))]),
                scope_spans=[ScopeSpans(scope=InstrumentationScope(name=scope), spans=[span])],
            )
        ]
    )
    (decoded,) = decode_batch("traces", PROTOBUF, None, request.SerializeToString(), LIMIT).spans
    return decoded


TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
SPAN_ID = bytes.fromhex("b7ad6b7169203331")
T0 = 1_795_664_481_000_000_000  # ns


# -- traces --------------------------------------------------------------------------------


def test_real_traces_export_decodes_with_ids_times_and_session() -> None:
    batch = _decode_traces()
    raw = list(_raw_spans(TRACES))
    assert len(batch.spans) == len(raw) == 18
    assert batch.logs == []
    assert batch.metrics == []
    for span, expected in zip(batch.spans, raw, strict=True):
        # Hex ids round-trip exactly (and are not mistaken for base64).
        assert span.trace_id == expected["traceId"]
        assert span.span_id == expected["spanId"]
        assert span.parent_span_id == expected.get("parentSpanId")
        assert span.name == expected["name"]
        assert span.start == int(expected["startTimeUnixNano"]) / 1_000_000
        assert span.end == int(expected["endTimeUnixNano"]) / 1_000_000
        assert span.session_secure_id == SESSION
        assert span.service_name == "sdk-harness-frontend"
        assert [e.name for e in span.events] == [e["name"] for e in expected["events"]]

    fetch = _span_named(batch, "documentFetch")
    assert (fetch.trace_id, fetch.span_id, fetch.parent_span_id) == (
        "27eccb3f875c7a0d9c1740dad2cc992c",
        "ae4b3196b157adce",
        "1689dd9ce692b09c",
    )
    assert fetch.kind == "internal"
    assert fetch.start == 1795664478665.9001  # 1795664478665900098 ns
    assert fetch.end == 1795664478686.2002
    assert fetch.scope_name == "@opentelemetry/instrumentation-document-load"
    assert fetch.status_code == "unset"
    assert fetch.attributes["http.url"] == "http://localhost:37415/app/index.html"
    assert fetch.attributes["http.response_content_length"] == 1308
    assert fetch.events[5].name == "requestStart"
    assert fetch.events[5].time == 1795664478671.8
    # The SDK sends `"value": {}` for an unset service.version.
    assert fetch.resource_attributes["service.version"] is None
    assert fetch.resource_attributes["telemetry.distro.version"] == "10.7.5"

    post = _span_named(batch, "HTTP POST")
    assert post.kind == "client"
    assert post.parent_span_id is None
    assert post.attributes["http.status_code"] == 200


def test_protobuf_encoding_of_the_same_export_decodes_identically() -> None:
    body = _traces_as_protobuf(TRACES)
    assert decode_batch("traces", PROTOBUF, None, body, LIMIT) == _decode_traces()


def test_gzip_bodies_decode_like_plain_ones() -> None:
    expected = _decode_traces()
    assert decode_batch("traces", JSON, "gzip", gzip.compress(TRACES_BODY), LIMIT) == expected
    protobuf = gzip.compress(_traces_as_protobuf(TRACES))
    assert decode_batch("traces", PROTOBUF, "gzip", protobuf, LIMIT) == expected
    # Exactly at the limit is fine; "identity" and header parameters are accepted.
    exact = len(TRACES_BODY)
    assert decode_batch("traces", JSON, "gzip", gzip.compress(TRACES_BODY), exact) == expected
    assert (
        decode_batch("traces", "application/json; charset=utf-8", "identity", TRACES_BODY, 1)
        == expected
    )


def test_gzip_inflating_past_the_limit_is_refused() -> None:
    with pytest.raises(OtlpPayloadTooLarge, match=f"more than {len(TRACES_BODY) - 1} bytes"):
        decode_batch("traces", JSON, "gzip", gzip.compress(TRACES_BODY), len(TRACES_BODY) - 1)


def test_an_export_larger_than_otlp_needs_is_refused_whatever_the_inflate_limit() -> None:
    # Empty sub-messages are cheap to send and dear to parse: 8 MiB is the ceiling.
    empty_spans = b"\x0a\x00" * (MAX_EXPORT_BYTES // 2 + 1)
    for body, encoding in ((empty_spans, None), (gzip.compress(empty_spans), "gzip")):
        with pytest.raises(OtlpPayloadTooLarge, match=f"than {MAX_EXPORT_BYTES} bytes"):
            decode_batch("traces", PROTOBUF, encoding, body, 64 * 1024 * 1024)


def test_stored_batches_decode_through_their_recorded_encoding() -> None:
    batch = OtlpBatch("traces", JSON, "gzip", 0, gzip.compress(TRACES_BODY))
    assert decode_stored(batch, LIMIT) == _decode_traces()


def test_unknown_fields_are_ignored_and_enum_names_accepted() -> None:
    doc = copy.deepcopy(TRACES)
    doc["futureTopLevel"] = {"x": 1}
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["futureField"] = [1, 2, 3]
    span["kind"] = "SPAN_KIND_SERVER"
    span["status"] = {"code": "STATUS_CODE_ERROR", "message": "boom"}
    first = _decode_traces(json.dumps(doc).encode()).spans[0]
    assert (first.kind, first.status_code, first.status_message) == ("server", "error", "boom")
    assert first.span_id == span["spanId"]


def _with_first_span(**changes: Any) -> bytes:
    doc = copy.deepcopy(TRACES)
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0].update(changes)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("signal", "content_type", "encoding", "body", "message"),
    [
        ("traces", JSON, None, b'{"resourceSpans": [', "not valid JSON"),
        ("traces", JSON, None, b"[1, 2]", "must be a JSON object, got list"),
        ("traces", JSON, None, METRICS_BODY, "OTLP metrics export (resourceMetrics), not a tr"),
        ("logs", JSON, None, TRACES_BODY, "OTLP traces export (resourceSpans), not a logs"),
        ("traces", JSON, None, b'{"resourceSpans": {"a": 1}}', "not valid OTLP/JSON"),
        (
            "traces",
            JSON,
            None,
            _with_first_span(traceId="zz" * 16),
            "resourceSpans[0].scopeSpans[0].spans[0].traceId must be a hex id",
        ),
        (
            "traces",
            JSON,
            None,
            # The canonical protobuf JSON (base64) spelling of an id is not OTLP/JSON.
            _with_first_span(spanId="rktRlrFXrc4="),
            "spans[0].spanId must be a hex id",
        ),
        ("traces", JSON, None, _with_first_span(spanId="abc"), "spanId must be a hex id"),
        (
            "traces",
            JSON,
            None,
            _with_first_span(traceId="abcdef"),
            "spans[0].traceId must be 16 bytes (32 hex digits), got 3 bytes",
        ),
        ("traces", JSON, None, _with_first_span(spanId=""), "spans[0].spanId is missing"),
        ("traces", PROTOBUF, None, _traces_as_protobuf(TRACES)[:-3], "not valid OTLP protobuf"),
        ("traces", PROTOBUF, None, b"\xff\xff\xff", "not valid OTLP protobuf"),
        ("traces", "text/plain", None, TRACES_BODY, "content type must be"),
        ("traces", JSON, "br", TRACES_BODY, "content encoding 'br' is not supported"),
        ("traces", JSON, "gzip", TRACES_BODY, "marked gzip but is not gzip data"),
        ("traces", JSON, "gzip", gzip.compress(TRACES_BODY)[:-20], "truncated gzip"),
        ("profiles", JSON, None, TRACES_BODY, "unknown OTLP signal 'profiles'"),
    ],
)
def test_undecodable_exports_are_refused_precisely(
    signal: str, content_type: str, encoding: str | None, body: bytes, message: str
) -> None:
    with pytest.raises(OtlpDecodeError) as caught:
        decode_batch(signal, content_type, encoding, body, LIMIT)
    assert message in caught.value.message


def test_empty_exports_decode_to_nothing() -> None:
    assert decode_batch("logs", JSON, None, b"{}", LIMIT) == DecodedBatch()
    assert decode_batch("metrics", PROTOBUF, None, b"", LIMIT) == DecodedBatch()


def test_span_link_ids_are_converted_too() -> None:
    link = {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174"}
    assert _decode_traces(_with_first_span(links=[link])).spans[0].span_id == "ae4b3196b157adce"
    with pytest.raises(OtlpDecodeError, match=r"spans\[0\]\.links\[0\]\.spanId"):
        _decode_traces(_with_first_span(links=[{**link, "spanId": "not-hex!"}]))


# -- the item limit ------------------------------------------------------------------------


def _traces_with_events(count: int) -> bytes:
    """One resource, one scope and one span holding `count` empty events: 2 bytes each."""
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    span = scope.spans.add(trace_id=TRACE, span_id=SPAN_ID)
    for _ in range(count):
        span.events.add()
    return request.SerializeToString()


def test_an_export_of_exactly_the_item_limit_decodes() -> None:
    body = gzip.compress(_traces_with_events(MAX_ITEMS - 3))
    (span,) = decode_batch("traces", PROTOBUF, "gzip", body, LIMIT).spans
    assert len(span.events) == MAX_ITEMS - 3


def _json_body(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def _many_json_events() -> bytes:
    # Proto field names, which OTLP/JSON receivers accept too.
    span = {"trace_id": TRACE.hex(), "span_id": SPAN_ID.hex(), "events": [{}] * MAX_ITEMS}
    return _json_body({"resource_spans": [{"scope_spans": [{"spans": [span]}]}]})


def _many_log_records() -> bytes:
    records = [ProtoLogRecord()] * MAX_ITEMS
    scope = ScopeLogs(log_records=records)
    return ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(scope_logs=[scope])]
    ).SerializeToString()


def _many_json_points() -> bytes:
    metric = {"name": "m", "exponential_histogram": {"dataPoints": [{}] * MAX_ITEMS}}
    return _json_body({"resourceMetrics": [{"scopeMetrics": [{"metrics": [metric]}]}]})


def _many_empty_scopes() -> bytes:
    resource = ResourceMetrics(scope_metrics=[ScopeMetrics()] * MAX_ITEMS)
    return ExportMetricsServiceRequest(resource_metrics=[resource]).SerializeToString()


@pytest.mark.parametrize(
    ("signal", "content_type", "make_body"),
    [
        ("traces", PROTOBUF, lambda: gzip.compress(_traces_with_events(MAX_ITEMS - 2))),
        ("traces", JSON, _many_json_events),
        ("logs", PROTOBUF, _many_log_records),
        ("metrics", JSON, _many_json_points),
        # Empty wrappers count too: millions of them cost as much as millions of spans.
        ("logs", JSON, lambda: _json_body({"resourceLogs": [{}] * (MAX_ITEMS + 1)})),
        ("metrics", PROTOBUF, _many_empty_scopes),
    ],
)
def test_an_export_past_the_item_limit_is_refused(
    signal: str, content_type: str, make_body: Callable[[], bytes]
) -> None:
    body = make_body()
    encoding = "gzip" if body.startswith(b"\x1f\x8b") else None
    with pytest.raises(OtlpDecodeError) as caught:
        decode_batch(signal, content_type, encoding, body, LIMIT)
    assert f"export holds more than {MAX_ITEMS} items" in caught.value.message


# -- metrics -------------------------------------------------------------------------------


def test_real_metrics_export_decodes_every_point() -> None:
    batch = decode_batch("metrics", JSON, None, METRICS_BODY, LIMIT)
    raw = list(_raw_points(METRICS))
    assert len(batch.metrics) == len(raw) == 32
    for point, (name, kind, expected) in zip(batch.metrics, raw, strict=True):
        assert (point.name, point.kind) == (name, kind)
        assert point.value == float(expected["asDouble"])
        assert point.time == int(expected["timeUnixNano"]) / 1_000_000
        assert point.start_time == int(expected["startTimeUnixNano"]) / 1_000_000
        assert point.session_secure_id == SESSION
        assert point.count is None
    jank = [p for p in batch.metrics if p.name == "Jank"]
    assert len(jank) == 14
    assert jank[0].attributes["group"] == "#name"
    assert jank[0].attributes["category"] == "WebVital"
    (counter,) = [p for p in batch.metrics if p.name == "harness_counter"]
    assert (counter.kind, counter.value) == ("sum", 2.0)
    memory = next(p for p in batch.metrics if p.name == "DeviceMemory")
    assert (memory.unit, memory.value, memory.service_name) == (
        "MiBy",
        16384.0,
        "sdk-harness-frontend",
    )


def test_metrics_protobuf_decodes_like_json() -> None:
    request = ExportMetricsServiceRequest()
    json_format.ParseDict(METRICS, request)
    body = request.SerializeToString()
    assert decode_batch("metrics", PROTOBUF, None, body, LIMIT) == decode_batch(
        "metrics", JSON, None, METRICS_BODY, LIMIT
    )


def test_histograms_and_summaries_keep_sum_and_count() -> None:
    attrs = [_kv("highlight.session_id", _s("s1"))]
    metrics = [
        Metric(
            name="latency",
            unit="ms",
            histogram=Histogram(
                data_points=[
                    HistogramDataPoint(attributes=attrs, time_unix_nano=T0, count=4, sum=10.5),
                    HistogramDataPoint(attributes=attrs, time_unix_nano=T0, count=2),
                ]
            ),
        ),
        Metric(
            name="exp",
            exponential_histogram=ExponentialHistogram(
                data_points=[ExponentialHistogramDataPoint(time_unix_nano=T0, count=3, sum=6)]
            ),
        ),
        Metric(
            name="quantiles",
            summary=Summary(data_points=[SummaryDataPoint(time_unix_nano=T0, count=5, sum=2.5)]),
        ),
        Metric(
            name="gauge",
            gauge=Gauge(
                data_points=[
                    NumberDataPoint(time_unix_nano=T0, as_int=7),
                    # FLAG_NO_RECORDED_VALUE: a gap, not a zero.
                    NumberDataPoint(time_unix_nano=T0, as_double=1.0, flags=1),
                    NumberDataPoint(time_unix_nano=T0),
                ]
            ),
        ),
    ]
    request = ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(
                resource=Resource(attributes=[_kv("highlight.session_id", _s("from-resource"))]),
                scope_metrics=[ScopeMetrics(metrics=metrics)],
            )
        ]
    )
    points = decode_batch("metrics", PROTOBUF, None, request.SerializeToString(), LIMIT).metrics
    assert [(p.name, p.kind, p.value, p.count, p.session_secure_id) for p in points] == [
        ("latency", "histogram", 10.5, 4, "s1"),
        ("latency", "histogram", None, 2, "s1"),
        ("exp", "exponential_histogram", 6.0, 3, "from-resource"),
        ("quantiles", "summary", 2.5, 5, "from-resource"),
        ("gauge", "gauge", 7.0, None, "from-resource"),
    ]
    assert points[0].time == T0 / 1_000_000
    assert points[0].start_time is None


# -- logs ----------------------------------------------------------------------------------


def _logs_request() -> ExportLogsServiceRequest:
    body = AnyValue(
        kvlist_value=KeyValueList(
            values=[
                _kv("msg", _s("cart updated")),
                _kv("items", AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=3)]))),
                _kv("ok", AnyValue(bool_value=True)),
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
                _kv("highlight.session_id", _s("sess-1")),
                _kv("ratio", AnyValue(double_value=0.25)),
            ],
            trace_id=TRACE,
            span_id=SPAN_ID,
        ),
        # Only an observed time, a string body, no severity text and no session attribute.
        ProtoLogRecord(
            observed_time_unix_nano=T0,
            severity_number=SeverityNumber.SEVERITY_NUMBER_ERROR,
            body=_s("plain"),
        ),
    ]
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=Resource(
                    attributes=[
                        _kv("service.name", _s("web")),
                        _kv("highlight.session_id", _s("sess-resource")),
                    ]
                ),
                scope_logs=[
                    ScopeLogs(scope=InstrumentationScope(name="console"), log_records=records)
                ],
            )
        ]
    )


def test_logs_decode_from_protobuf() -> None:
    body = _logs_request().SerializeToString()
    first, second = decode_batch("logs", PROTOBUF, None, body, LIMIT).logs
    assert first == LogRecord(
        time=(T0 + 500_000) / 1_000_000,
        severity_text="WARN",
        severity_number=13,
        body='{"msg":"cart updated","items":[3],"ok":true}',
        attributes={"highlight.session_id": "sess-1", "ratio": 0.25},
        resource_attributes={"service.name": "web", "highlight.session_id": "sess-resource"},
        trace_id=TRACE.hex(),
        span_id=SPAN_ID.hex(),
        session_secure_id="sess-1",
        service_name="web",
        scope_name="console",
    )
    assert (second.time, second.body, second.trace_id, second.span_id) == (
        T0 / 1_000_000,
        "plain",
        None,
        None,
    )
    assert second.session_secure_id == "sess-resource"


def test_logs_decode_from_otlp_json_with_hex_ids() -> None:
    request = _logs_request()
    doc = json_format.MessageToDict(request)
    record = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    # MessageToDict writes protobuf's canonical base64; OTLP/JSON writes the ids as hex.
    record["traceId"], record["spanId"] = TRACE.hex(), SPAN_ID.hex()
    from_json = decode_batch("logs", JSON, None, json.dumps(doc).encode(), LIMIT)
    from_protobuf = decode_batch("logs", PROTOBUF, None, request.SerializeToString(), LIMIT)
    assert from_json == from_protobuf


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
    body = _logs_request().SerializeToString()
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
    body = _logs_request().SerializeToString()
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
        attributes=[_kv("highlight.session_id", _s("s"))],
        events=[
            ProtoSpan.Event(
                name="log",
                time_unix_nano=T0 + 2_000_000,
                attributes=[
                    _kv("log.severity", _s("Warn")),
                    _kv("log.message", _s("disk almost full")),
                    _kv("component", _s("Cart")),
                ],
            ),
            ProtoSpan.Event(name="other", time_unix_nano=T0),
        ],
    )
    (message,) = console_messages(_one_span(span))
    assert (message.timestamp, message.level, message.message) == (
        T0 // 1_000_000 + 2,
        "warn",
        "disk almost full",
    )
    assert message.attributes == {"component": "Cart"}
    assert message.source == "otlp"


# -- network -------------------------------------------------------------------------------


def test_fetch_and_xhr_spans_are_network_requests() -> None:
    batch = _decode_traces()
    raw = {s["spanId"]: s for s in _raw_spans(TRACES)}

    post = network_request(_span_named(batch, "HTTP POST"))
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

    missing = network_request(_span_named(batch, "HTTP GET"))
    assert missing is not None
    assert (missing.method, missing.url, missing.status) == (
        "GET",
        "http://localhost:37415/api/missing",
        404,
    )
    assert missing.response is not None
    assert missing.response["body"] == '{"error":"not found"}'

    xhr = network_request(_span_named(batch, "GET"))
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
    batch = _decode_traces()
    document = network_request(_span_named(batch, "documentFetch"))
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
    assert network_request(_span_named(batch, "documentLoad")) is None
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
            _kv("http.request.method", _s("put")),
            _kv("url.full", _s("https://api.example.com/cart")),
            _kv("http.response.status_code", AnyValue(int_value=0)),
            _kv("http.response.error", _s("Failed to fetch")),
            _kv(
                "http.request.header.accept",
                AnyValue(array_value=ArrayValue(values=[_s("text/html"), _s("*/*")])),
            ),
        ],
    )
    request = network_request(_one_span(span, "@opentelemetry/instrumentation-fetch"))
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
        attributes=[_kv("http.method", _s("GET")), _kv("http.url", _s("https://x/cart"))],
    )
    assert network_request(_one_span(server)) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (AnyValue(int_value=404), 404),
        (AnyValue(double_value=200.0), 200),
        (AnyValue(double_value=200.5), None),
        (AnyValue(double_value=1e300), None),  # no store's integer holds it
        (AnyValue(double_value=float("nan")), None),
        (_s(" 204 "), 204),
        (_s("²"), None),  # a digit to str.isdigit(), not to int()
        (_s("1" * 5000), None),  # past the digits int() parses
        (_s("-1"), None),
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
            _kv("http.method", _s("GET")),
            _kv("http.url", _s("https://api.example.com/cart")),
            _kv("http.status_code", value),
            _kv("http.response_content_length", value),
        ],
    )
    request = network_request(_one_span(span))
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
                    _kv("exception.type", _s("TypeError")),
                    _kv(
                        "exception.message",
                        _s("Cannot read properties of undefined (reading 'id')"),
                    ),
                    _kv("exception.stacktrace", _s(CHROME_STACK)),
                ],
            ),
        ],
    )
    decoded = _one_span(span)
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
            _kv("type", _s("window.onerror")),
            _kv("url", _s("http://localhost:3000/cart")),
            _kv("payload", _s('{"lineNumber":"3"}')),
            _kv("event", _s("Uncaught Error: boom:Uncaught Error: boom")),
        ],
        events=[
            ProtoSpan.Event(
                name="exception",
                time_unix_nano=T0,
                attributes=[
                    _kv("exception.type", _s("Error")),
                    _kv("exception.message", _s("Uncaught Error: boom")),
                    _kv("exception.stacktrace", _s(stack)),
                ],
            )
        ],
    )
    (error,) = exceptions(_one_span(span))
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


def test_firefox_stacks_parse() -> None:
    frames = parse_stacktrace(
        "renderCart@https://shop.example/app.js:10:5\n"
        "@https://shop.example/app.js:2:1\n"
        "Error: not a frame at all\n"
    )
    assert [(f.function_name, f.file_name, f.line_number, f.column_number) for f in frames] == [
        ("renderCart", "https://shop.example/app.js", 10, 5),
        (None, "https://shop.example/app.js", 2, 1),
    ]


@pytest.mark.parametrize(
    "name", ["highlight.session_id", "highlight_session_id", "launchdarkly.session_id"]
)
def test_every_sdk_s_session_attribute_names_the_session(name: str) -> None:
    span = _one_span(
        ProtoSpan(trace_id=b"t" * 16, span_id=b"s" * 8, attributes=[_kv(name, _s("abc"))])
    )
    assert span.session_secure_id == "abc"


@pytest.mark.parametrize(
    "name",
    [
        "highlight.project_id",
        "highlight_project_id",
        "launchdarkly.project_id",
        "x-highlight-project",
    ],
)
def test_every_sdk_s_project_attribute_names_the_project(name: str) -> None:
    assert project_key({}, {name: "1jdkoe52"}) == "1jdkoe52"
    # The item's own attribute wins over its resource's; empty ones name nothing.
    assert project_key({name: "2"}, {name: "1"}) == "2"
    assert project_key({name: ""}, {}) is None


def test_python_tracebacks_parse_innermost_first_and_the_last_of_a_chain() -> None:
    frames = parse_stacktrace(
        "Traceback (most recent call last):\n"
        '  File "/app/jobs.py", line 3, in <module>\n'
        "    run()\n"
        "KeyError: 'lock'\n"
        "\n"
        "During handling of the above exception, another exception occurred:\n"
        "\n"
        "Traceback (most recent call last):\n"
        '  File "/app/views.py", line 40, in checkout\n'
        "    charge(order)\n"
        '  File "/app/payments.py", line 12, in charge\n'
        '    raise ValueError("card declined")\n'
        "ValueError: card declined\n"
    )
    assert [(f.function_name, f.file_name, f.line_number) for f in frames] == [
        ("charge", "/app/payments.py", 12),
        ("checkout", "/app/views.py", 40),
    ]


# How frames written "fn (location)" were read before; the reading must not change.
_PAREN_FRAME = re.compile(r"^(?P<fn>.+?) \((?P<loc>.+)\)$")
_LOCATION = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::(?P<col>\d+))?$")


def _regex_frame(body: str) -> StackFrame:
    split = _PAREN_FRAME.match(body)
    function = split["fn"].removeprefix("async ") or None if split else None
    location = _LOCATION.match(split["loc"] if split else body)
    if location is None:
        return StackFrame(function_name=function, source=body)
    column = location["col"]
    return StackFrame(
        location["file"], function, int(location["line"]), int(column) if column else None, body
    )


_PIECES = st.lists(st.sampled_from(["a", "async ", " (", ")", ":1", " ", "\n"]), max_size=4)
# Shaped like "fn (location)", each part possibly empty or holding more " (" and ")".
_FRAME_LIKE = st.tuples(
    _PIECES.map("".join),
    st.sampled_from([" (", "(", ""]),
    _PIECES.map("".join),
    st.sampled_from([")", ") ", ""]),
).map("".join)


@given(_FRAME_LIKE)
def test_frames_read_as_the_regex_read_them(text: str) -> None:
    body = text.strip()
    listed = parse_stacktrace(json.dumps([body]))
    assert listed == ((_regex_frame(body),) if body else ())


@pytest.mark.timeout(30)
def test_a_line_of_many_open_parentheses_parses_in_linear_time() -> None:
    # Without a closing one, the regex split rescanned the line from every " (": seconds
    # for 20,000 of them, growing with their square.
    line = "at " + "a (" * 200_000 + "app.js:1:2"
    (frame,) = parse_stacktrace(line)
    assert (frame.function_name, frame.file_name, frame.line_number, frame.column_number) == (
        None,
        "a (" * 200_000 + "app.js",
        1,
        2,
    )


def test_spans_without_exception_events_have_no_errors() -> None:
    assert all(exceptions(span) == [] for span in _decode_traces().spans)
