"""OpenTelemetry as backends export it: OTLP/JSON exports built by hand, and OTLP/gRPC
Export calls made with raw bytes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import grpc
from google.rpc import error_details_pb2

from footlight.edge.otlp_grpc import SERVICES
from tests.helpers.events import T0


def attr(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def traced_request(secure_id: str, project_id: int, trace_id: str) -> dict[str, Any]:
    """OTLP exports by signal: the browser's fetch span of the session, the backend's span
    (cart-api) of the same trace with an exception, and a backend log line of the session."""
    start = (T0 + 200) * 1_000_000
    fetch = {
        "traceId": trace_id,
        "spanId": os.urandom(8).hex(),
        "name": "HTTP GET",
        "kind": 3,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 50_000_000),
        "attributes": [
            attr("highlight.session_id", secure_id),
            attr("http.method", "GET"),
            attr("http.url", "https://app.example/api/cart"),
        ],
    }
    backend = {
        "traceId": trace_id,
        "spanId": os.urandom(8).hex(),
        "parentSpanId": fetch["spanId"],
        "name": "GET /api/cart",
        "kind": 2,
        "startTimeUnixNano": str(start + 5_000_000),
        "endTimeUnixNano": str(start + 45_000_000),
        "events": [
            {
                "name": "exception",
                "timeUnixNano": str(start + 40_000_000),
                "attributes": [
                    attr("exception.type", "KeyError"),
                    attr("exception.message", "x"),
                ],
            }
        ],
    }
    service = [attr("service.name", "cart-api"), attr("highlight.project_id", str(project_id))]
    line = {
        "timeUnixNano": str(start + 10_000_000),
        "severityText": "INFO",
        "body": {"stringValue": "cart read"},
        "attributes": [attr("highlight.session_id", secure_id)],
    }
    return {
        "traces": {
            "resourceSpans": [
                {"resource": {"attributes": [attr("telemetry.sdk.language", "webjs")]},
                 "scopeSpans": [{"spans": [fetch]}]},
                {"resource": {"attributes": service}, "scopeSpans": [{"spans": [backend]}]},
            ]
        },
        "logs": {
            "resourceLogs": [
                {"resource": {"attributes": service}, "scopeLogs": [{"logRecords": [line]}]}
            ]
        },
    }  # fmt: skip


@dataclass(frozen=True)
class GrpcAnswer:
    """How an OTLP/gRPC Export call ended."""

    code: grpc.StatusCode
    details: str
    trailers: dict[str, str | bytes]
    response: bytes = b""
    """The Export*ServiceResponse: empty unless some items were rejected."""

    def retry_seconds(self) -> int | None:
        """The wait the server asked for, as the Python exporter reads it."""
        raw = self.trailers.get("google.rpc.retryinfo-bin")
        if not isinstance(raw, bytes):
            return None
        return int(error_details_pb2.RetryInfo.FromString(raw).retry_delay.seconds)


def otlp_grpc_export(
    target: str,
    signal: str,
    message: bytes,
    *,
    compression: grpc.Compression = grpc.Compression.NoCompression,
    metadata: Sequence[tuple[str, str]] = (),
) -> GrpcAnswer:
    """One OTLP/gRPC Export call with `message` as the request's bytes (whatever they are),
    on a channel (a connection) of its own."""
    with grpc.insecure_channel(target) as channel:
        export: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            f"/{SERVICES[signal]}/Export",  # type: ignore[index]
            request_serializer=None,
            response_deserializer=None,
        )
        try:
            response = export(
                message, timeout=15, compression=compression, metadata=tuple(metadata)
            )
        except grpc.RpcError as error:
            call = cast(grpc.Call, error)
            return GrpcAnswer(
                call.code(), call.details() or "", dict(call.trailing_metadata() or ())
            )
    return GrpcAnswer(grpc.StatusCode.OK, "", {}, response)
