"""Decoding OTLP exports (JSON and protobuf, plain and gzip) into spans, log records and
metric points, refusing what cannot be decoded, and naming the session or project of each item.

The JSON inputs are real exports of highlight.run 10.7.5; the protobuf inputs are the same
data encoded with the OpenTelemetry proto classes, so both paths must agree exactly.
"""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as ProtoLogRecord
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs, ScopeLogs
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
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from footlight.core.otlp import (
    MAX_EXPORT_BYTES,
    MAX_ITEMS,
    DecodedBatch,
    LogRecord,
    decode_batch,
    project_key,
)
from footlight.errors import OtlpDecodeError, OtlpPayloadTooLarge
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
from tests.helpers.paths import FIXTURES

SESSION = "hrOIqIHeums7VmNIhydrOk1atr8K"
METRICS_BODY = (FIXTURES / "otlp-metrics.json").read_bytes()
METRICS: dict[str, Any] = json.loads(METRICS_BODY)


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
    for span in raw_spans(doc):
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


# -- traces --------------------------------------------------------------------------------


def test_real_traces_export_decodes_with_ids_times_and_session() -> None:
    batch = decode_traces()
    raw = list(raw_spans(TRACES))
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

    fetch = span_named(batch, "documentFetch")
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

    post = span_named(batch, "HTTP POST")
    assert post.kind == "client"
    assert post.parent_span_id is None
    assert post.attributes["http.status_code"] == 200


def test_protobuf_encoding_of_the_same_export_decodes_identically() -> None:
    body = _traces_as_protobuf(TRACES)
    assert decode_batch("traces", PROTOBUF, None, body, LIMIT) == decode_traces()


def test_gzip_bodies_decode_like_plain_ones() -> None:
    expected = decode_traces()
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


def test_unknown_fields_are_ignored_and_enum_names_accepted() -> None:
    doc = copy.deepcopy(TRACES)
    doc["futureTopLevel"] = {"x": 1}
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["futureField"] = [1, 2, 3]
    span["kind"] = "SPAN_KIND_SERVER"
    span["status"] = {"code": "STATUS_CODE_ERROR", "message": "boom"}
    first = decode_traces(json.dumps(doc).encode()).spans[0]
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
    assert decode_traces(_with_first_span(links=[link])).spans[0].span_id == "ae4b3196b157adce"
    with pytest.raises(OtlpDecodeError, match=r"spans\[0\]\.links\[0\]\.spanId"):
        decode_traces(_with_first_span(links=[{**link, "spanId": "not-hex!"}]))


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
    attrs = [kv("highlight.session_id", string_value("s1"))]
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
                resource=Resource(
                    attributes=[kv("highlight.session_id", string_value("from-resource"))]
                ),
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


def test_logs_decode_from_protobuf() -> None:
    body = logs_request().SerializeToString()
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
    request = logs_request()
    doc = json_format.MessageToDict(request)
    record = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    # MessageToDict writes protobuf's canonical base64; OTLP/JSON writes the ids as hex.
    record["traceId"], record["spanId"] = TRACE.hex(), SPAN_ID.hex()
    from_json = decode_batch("logs", JSON, None, json.dumps(doc).encode(), LIMIT)
    from_protobuf = decode_batch("logs", PROTOBUF, None, request.SerializeToString(), LIMIT)
    assert from_json == from_protobuf


@pytest.mark.parametrize(
    "name", ["highlight.session_id", "highlight_session_id", "launchdarkly.session_id"]
)
def test_every_sdk_s_session_attribute_names_the_session(name: str) -> None:
    span = one_span(
        ProtoSpan(trace_id=b"t" * 16, span_id=b"s" * 8, attributes=[kv(name, string_value("abc"))])
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
