"""OTLP over gRPC: the collector's TraceService, MetricsService and LogsService on a port of
their own (`FOOTLIGHT_OTLP_GRPC_PORT`, 4317 by convention).

Backend SDKs in Python (`highlight-io`, LaunchDarkly's observability SDK) export over gRPC
only, so a footlight that speaks just HTTP/1.1 receives nothing from them. grpcio's asyncio
server runs on the same event loop as the HTTP edge, in every server process: it owns the
HTTP/2 framing, flow control and decompression, and hands each export to this module as the
raw bytes of its request message (no deserialiser is registered), already inflated (gzip or
identity, whatever the exporter chose).

From there an export is treated exactly like an OTLP/HTTP protobuf body (`edge.otlp`):
counted against its client's limits (the peer address; `x-forwarded-for` metadata only from
trusted proxies), decoded once to refuse what processing could never read, stored as it came
(`application/x-protobuf`, no content encoding: the same stored form, so processing is
shared) and answered OK only after the commit. Refusals take the statuses the OTLP
specification gives them:

* not an OTLP export of that service's signal (it does not decode), or none of its items
  names a session or a known project: `INVALID_ARGUMENT` (exporters drop the batch); of a
  mixed export the items that belong nowhere are dropped and counted in the answer's
  `partial_success`; more items than an export may hold: `RESOURCE_EXHAUSTED`;
* a limit refused it: `RESOURCE_EXHAUSTED` with the wait as `RetryInfo`, which exporters
  honour (the HTTP edge's 429 with `Retry-After`);
* the store cannot write: `UNAVAILABLE` with `RetryInfo` (the HTTP edge's 503).

The wait travels in the status details (`grpc-status-details-bin`, a `google.rpc.Status`, as
Go and Java read it) and, for the Python exporter, which reads it under its own name, as
`google.rpc.retryinfo-bin`.

What grpcio bounds before Python sees anything: a message over `max_body_bytes` after
decompression (a gzip bomb included) is refused by grpcio itself with `RESOURCE_EXHAUSTED`;
at most `max_grpc_exports` exports are worked on at once (more get `RESOURCE_EXHAUSTED`
at once, which exporters retry); a connection must finish its HTTP/2 handshake within
`header_timeout_seconds`, and one without exports for `keep_alive_seconds` is closed
(exporters reconnect as they need). So the memory of exports in progress is at most
`max_grpc_exports` times `max_body_bytes` (8 of 16 MiB by default) plus their decoding.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from footlight.config import Limits
from footlight.core.otlp import PROTOBUF, Signal, partial_success
from footlight.edge.admission import ClientAdmission
from footlight.edge.asgi import RETRY_AFTER_SECONDS
from footlight.edge.otlp import accept_export, project_header
from footlight.errors import GrpcBindError, HTTPError
from footlight.ingest.service import Ingestor

log = logging.getLogger("footlight.edge")

SERVICES: dict[Signal, str] = {
    "traces": trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name,
    "metrics": metrics_service_pb2.DESCRIPTOR.services_by_name["MetricsService"].full_name,
    "logs": logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"].full_name,
}
"""The gRPC service of each signal, as the OTLP service definitions name it."""
_OK = b""
"""An Export*ServiceResponse with no partial_success: every item was accepted."""

_STATUS: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
}


def grpc_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def peer_address(peer: str) -> str | None:
    """The IP address in a gRPC peer string (`ipv4:1.2.3.4:5`, `ipv6:[::1]:5`)."""
    kind, _, rest = peer.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return None
    host = rest.rsplit(":", 1)[0]
    return host[1:-1] if host.startswith("[") else host


def _retry_metadata(
    code: grpc.StatusCode, message: str, seconds: int
) -> tuple[tuple[str, bytes], ...]:
    retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=seconds))
    detail = any_pb2.Any()
    detail.Pack(retry)
    status = status_pb2.Status(code=code.value[0], message=message, details=[detail])
    return (
        ("grpc-status-details-bin", status.SerializeToString()),
        ("google.rpc.retryinfo-bin", retry.SerializeToString()),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _retry_after(exc: HTTPError) -> int | None:
    for name, value in exc.headers:
        if name == "retry-after":
            return int(value)
    return None


Handler = Callable[[bytes, grpc.aio.ServicerContext[bytes, bytes]], Awaitable[bytes]]


class OtlpGrpcServer:
    """The receiver, started and stopped with the app (its lifespan)."""

    def __init__(
        self,
        ingest: Ingestor,
        limits: Limits,
        admission: ClientAdmission,
        *,
        host: str,
        port: int,
        shared_port: bool,
    ) -> None:
        self._ingest = ingest
        self._limits = limits
        self._admission = admission
        self._address = grpc_address(host, port)
        self._shared_port = shared_port
        self._server: grpc.aio.Server | None = None

    async def start(self) -> int:
        """Listen; return the port. Raises GrpcBindError if the port is taken."""
        limits = self._limits
        options: Sequence[tuple[str, int]] = [
            ("grpc.max_receive_message_length", limits.max_body_bytes),
            ("grpc.max_send_message_length", 1024 * 1024),
            ("grpc.server_handshake_timeout_ms", int(limits.header_timeout_seconds * 1000)),
            ("grpc.max_connection_idle_ms", int(limits.keep_alive_seconds * 1000)),
            # Several worker processes share the port (the kernel spreads connections);
            # a single process refuses a port another program holds.
            ("grpc.so_reuseport", 1 if self._shared_port else 0),
        ]
        server = grpc.aio.server(options=options, maximum_concurrent_rpcs=limits.max_grpc_exports)
        server.add_generic_rpc_handlers(
            tuple(
                grpc.method_handlers_generic_handler(
                    service, {"Export": grpc.unary_unary_rpc_method_handler(self._handler(signal))}
                )
                for signal, service in SERVICES.items()
            )
        )
        try:
            port = server.add_insecure_port(self._address)
        except RuntimeError as exc:
            raise GrpcBindError(f"cannot listen for OTLP/gRPC on {self._address}: {exc}") from None
        await server.start()
        self._server = server
        return port

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop taking exports; those in progress get `grace_seconds` to be stored."""
        if self._server is not None:
            await self._server.stop(grace_seconds)
            self._server = None

    def _handler(self, signal: Signal) -> Handler:
        async def export(body: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            try:
                metadata = dict(context.invocation_metadata() or ())
                forwarded = metadata.get("x-forwarded-for")
                client = self._admission.key_of(
                    peer_address(context.peer()),
                    forwarded if isinstance(forwarded, str) else None,
                )
                self._admission.admit(client, len(body))
                accepted = await accept_export(
                    self._ingest,
                    self._limits,
                    signal,
                    PROTOBUF,
                    None,
                    body,
                    project_header(lambda name: _text(metadata.get(name))),
                )
            except HTTPError as exc:
                await self._abort(context, exc)
            if not accepted.rejected:
                return _OK
            return partial_success(signal, accepted.rejected, accepted.message).SerializeToString()

        return export

    async def _abort(self, context: grpc.aio.ServicerContext[bytes, bytes], exc: HTTPError) -> None:
        code = _STATUS.get(exc.status, grpc.StatusCode.INVALID_ARGUMENT)
        retry_after = _retry_after(exc)
        if exc.status == 503 and retry_after is None:
            retry_after = int(RETRY_AFTER_SECONDS)
        metadata = _retry_metadata(code, exc.message, retry_after) if retry_after else ()
        if exc.status >= 500:
            log.warning("OTLP/gRPC export refused: %s", exc.message)
        await context.abort(code, exc.message, metadata)
