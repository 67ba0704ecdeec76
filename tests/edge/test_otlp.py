"""The OTLP/HTTP receiver keeps what the SDK exports (traces, metrics, logs) durably and as
received, answers as OTLP exporters expect, and refuses garbage clearly."""

from __future__ import annotations

import gzip
import json
import os
import time
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from footlight.core.otlp import (
    MAX_ITEMS,
    MAX_PROJECTS,
    PROJECT_ATTRIBUTES,
    SESSION_ATTRIBUTES,
    Span,
)
from footlight.processing.otlp import decode_stored
from footlight.store import OtlpBatch
from tests.helpers.graphql import error_codes
from tests.helpers.inspection import otlp_batches
from tests.helpers.paths import FIXTURES
from tests.helpers.servers import Server
from tests.helpers.store import with_store

# A real export of highlight.run 10.7.5 (document-load and fetch spans).
EXPORTS = {
    "traces": json.loads((FIXTURES / "otlp-traces.json").read_text()),
    "metrics": json.loads((FIXTURES / "otlp-metrics.json").read_text()),
    "logs": {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": "1795664482000000000",
                                "severityText": "INFO",
                                "body": {"stringValue": "hello"},
                                "attributes": [
                                    {
                                        "key": "highlight.session_id",
                                        "value": {"stringValue": "otlpLogSession"},
                                    }
                                ],
                            }
                        ]
                    }
                ]
            }
        ]
    },
}


def _batches(server: Server) -> list[OtlpBatch]:
    return with_store(server.data_dir, lambda store: otlp_batches(store))


@pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
def test_json_exports_are_stored_as_received(
    client: httpx.Client, server: Server, signal: str
) -> None:
    body = json.dumps({**EXPORTS[signal], "marker": f"{signal}-{server.url}"}).encode()
    response = client.post(
        f"/v1/{signal}",
        content=body,
        headers={"content-type": "application/json", "origin": "http://localhost:3000"},
    )
    assert response.status_code == 200
    assert response.json() == {}
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    stored = [b for b in _batches(server) if b.body == body]
    assert [(b.signal, b.content_type, b.content_encoding) for b in stored] == [
        (signal, "application/json", None)
    ]


def test_gzip_protobuf_exports_are_stored_once(client: httpx.Client, server: Server) -> None:
    export = ExportTraceServiceRequest()
    json_format.ParseDict(
        {
            "resourceSpans": [
                {
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "traceId": "W47/95gDgQPSabYzgT/GDA==",
                                    "spanId": "7uGbfsPBsXQ=",
                                    "name": server.url,
                                    "startTimeUnixNano": "1795664480000000000",
                                    "attributes": [
                                        {
                                            "key": "highlight.session_id",
                                            "value": {"stringValue": "gzipTestSession"},
                                        }
                                    ],
                                }
                            ]
                        }
                    ]
                }
            ]
        },
        export,
    )
    body = gzip.compress(export.SerializeToString())
    headers = {"content-type": "application/x-protobuf", "content-encoding": "gzip"}
    for _ in range(2):  # the exporter's retry of the same request
        response = client.post("/v1/traces", content=body, headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-protobuf"
    stored = [b for b in _batches(server) if b.body == body]
    assert [(b.signal, b.content_encoding) for b in stored] == [("traces", "gzip")]


def test_preflight_is_answered(client: httpx.Client) -> None:
    response = client.options(
        "/v1/metrics",
        headers={
            "origin": "http://a.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "http://a.example"


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b"{}", {"content-type": "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        (
            b"{}",
            {"content-type": "application/json", "content-encoding": "br"},
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (b"{nope", {"content-type": "application/json"}, 400, "BAD_REQUEST"),
        (
            b"not gzip",
            {"content-type": "application/json", "content-encoding": "gzip"},
            400,
            "BAD_REQUEST",
        ),
        (b"\x0a\xff\xff", {"content-type": "application/x-protobuf"}, 400, "BAD_REQUEST"),
        (b'{"resourceSpans": 3}', {"content-type": "application/json"}, 400, "BAD_REQUEST"),
    ],
)
def test_garbage_is_refused_and_not_stored(
    client: httpx.Client,
    server: Server,
    content: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    before = len(_batches(server))
    response = client.post("/v1/logs", content=content, headers=headers)
    assert response.status_code == status
    assert error_codes(response) == [code]
    assert len(_batches(server)) == before


def test_an_export_of_too_many_items_is_refused_and_not_stored(
    client: httpx.Client, server: Server
) -> None:
    # A few kilobytes of gzip holding a million empty span events (2 bytes each).
    export = ExportTraceServiceRequest()
    span = (
        export.resource_spans.add()
        .scope_spans.add()
        .spans.add(trace_id=bytes(range(16)), span_id=bytes(range(8)), name=server.url)
    )
    for _ in range(1_000_000):
        span.events.add()
    body = gzip.compress(export.SerializeToString())
    before = len(_batches(server))
    response = client.post(
        "/v1/traces",
        content=body,
        headers={"content-type": "application/x-protobuf", "content-encoding": "gzip"},
    )
    assert response.status_code == 400
    assert error_codes(response) == ["BAD_REQUEST"]
    assert f"more than {MAX_ITEMS} items" in response.json()["errors"][0]["message"]
    assert len(_batches(server)) == before


def _span(name: str, *attributes: tuple[str, str]) -> dict[str, Any]:
    return {
        "traceId": os.urandom(16).hex(),
        "spanId": os.urandom(8).hex(),
        "name": name,
        "startTimeUnixNano": str(time.time_ns()),
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes],
    }


def _spans(*spans: dict[str, Any], resource: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    attributes = [{"key": k, "value": {"stringValue": v}} for k, v in resource]
    return {
        "resourceSpans": [
            {"resource": {"attributes": attributes}, "scopeSpans": [{"spans": list(spans)}]}
        ]
    }


def _stored_spans(server: Server, name: str) -> list[Span]:
    return [
        span
        for batch in _batches(server)
        for span in decode_stored(batch, 1 << 20).spans
        if span.name.startswith(name)
    ]


@pytest.mark.parametrize(
    "attributes",
    [
        pytest.param((), id="naming-nothing"),
        pytest.param((("highlight.project_id", "no-such-project"),), id="unknown-project"),
    ],
)
def test_an_export_naming_no_session_and_no_known_project_is_refused(
    client: httpx.Client, server: Server, attributes: tuple[tuple[str, str], ...]
) -> None:
    name = f"orphan {os.urandom(4).hex()}"
    response = client.post("/v1/traces", json=_spans(_span(name), resource=attributes))
    assert response.status_code == 400
    assert error_codes(response) == ["UNATTRIBUTED"]
    message = response.json()["errors"][0]["message"]
    assert message.startswith("1 span named no browser session and no known project")
    # It names every attribute looked for, so a user can see which one to set.
    for attribute in (*SESSION_ATTRIBUTES, *PROJECT_ATTRIBUTES, "x-launchdarkly-project"):
        assert attribute in message
    assert ("'no-such-project'" in message) == bool(attributes)
    assert _stored_spans(server, name) == []


def test_of_a_mixed_export_only_what_belongs_somewhere_is_kept_and_the_rest_reported(
    client: httpx.Client, server: Server
) -> None:
    name = f"mixed {os.urandom(4).hex()}"
    export = _spans(
        _span(f"{name} in a session", ("highlight.session_id", "mixedSession")),
        _span(f"{name} of project 1", ("launchdarkly.project_id", "1")),
        _span(f"{name} of no project", ("highlight_project_id", "no-such-project")),
        _span(f"{name} of nobody"),
    )
    response = client.post("/v1/traces", json=export)
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2"  # int64 in OTLP/JSON
    assert partial["errorMessage"].startswith("2 spans named no browser session")
    assert "'no-such-project'" in partial["errorMessage"]
    kept = sorted(span.name for span in _stored_spans(server, name))
    assert kept == [f"{name} in a session", f"{name} of project 1"]


def test_the_project_header_names_the_project_of_items_that_name_none(
    client: httpx.Client, server: Server
) -> None:
    name = f"header {os.urandom(4).hex()}"
    export = _spans(_span(f"{name} a"), _span(f"{name} b", ("highlight.project_id", "1")))
    response = client.post("/v1/traces", json=export, headers={"x-highlight-project": "1jdkoe52"})
    assert response.status_code == 200
    assert response.json() == {}  # everything kept: no partial success
    # LaunchDarkly's exporters name it in a header of their own.
    other = _spans(_span(f"{name} c"))
    answer = client.post("/v1/traces", json=other, headers={"x-launchdarkly-project": "1"})
    assert answer.status_code == 200
    spans = sorted(_stored_spans(server, name), key=lambda span: span.name)
    # Written into the stored export, where processing finds it.
    assert [span.attributes["highlight.project_id"] for span in spans] == ["1jdkoe52", "1", "1"]


def test_a_project_key_with_a_nul_names_no_project_and_is_refused_cleanly(
    client: httpx.Client, server: Server
) -> None:
    # PostgreSQL cannot compare such a key at all: it must not reach the lookup (a 500).
    export = _spans(_span(f"nul {os.urandom(4).hex()}", ("highlight.project_id", "1\x00x")))
    response = client.post("/v1/traces", json=export)
    assert response.status_code == 400
    assert error_codes(response) == ["UNATTRIBUTED"]


def test_an_export_naming_too_many_projects_is_refused(
    client: httpx.Client, server: Server
) -> None:
    spans = [_span("many", ("highlight.project_id", str(1000 + i))) for i in range(MAX_PROJECTS)]
    response = client.post("/v1/traces", json=_spans(*spans))
    assert response.status_code == 400  # 16 unknown projects: looked up, none is known
    assert error_codes(response) == ["UNATTRIBUTED"]
    spans.append(_span("many", ("highlight.project_id", "1")))
    response = client.post("/v1/traces", json=_spans(*spans))
    assert response.status_code == 400
    assert error_codes(response) == ["BAD_REQUEST"]
    assert f"at most {MAX_PROJECTS} may be named" in response.json()["errors"][0]["message"]


def test_only_post(client: httpx.Client) -> None:
    assert client.get("/v1/traces").status_code == 405
