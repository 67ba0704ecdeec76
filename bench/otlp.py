"""OTLP intake, over gRPC and over HTTP, side by side on one footlight.

Backend SDKs export spans in batches (the OpenTelemetry SDKs' default: up to 512 spans every
5 s, gzip). This program starts `footlight serve` (embedded store, durability on, gRPC
receiver on a free port), builds distinct trace exports shaped like a backend's (50 server
spans each, with a service, a project and, for half of them, a browser session), and sends
them for `--seconds` from `--concurrency` concurrent callers:

1. over OTLP/gRPC (grpcio's asyncio client, one channel, gzip), as the Python SDKs do;
2. over OTLP/HTTP protobuf (`POST /v1/traces`, gzip, keep-alive connections), as the Go and
   .NET SDKs do.

It reports exports/s and spans/s acknowledged, the server's CPU per 1,000 exports (from
/proc: what carries from this machine to another), p50/p99 latency and the server's RSS after
each; every answer must be OK. The load generator shares the machine's cores with the
server, so compare the two lines of one run, not runs of different machines.

    .venv/bin/python bench/otlp.py              # 10 s each
    .venv/bin/python bench/otlp.py --smoke      # a second each: checks that it runs
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from nodes import ONE_CLIENT_FOR_MANY_BROWSERS, Node, start_footlight

SPANS_PER_EXPORT = 50
TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def build_exports(count: int) -> list[bytes]:
    """`count` distinct trace exports (their own trace and span ids), serialized."""
    exports = []
    now_ns = time.time_ns()
    for n in range(count):
        spans = []
        for k in range(SPANS_PER_EXPORT):
            attributes = [
                _kv("http.method", "POST"),
                _kv("http.route", "/api/checkout"),
                _kv("http.status_code", "200"),
            ]
            if n % 2 == 0:
                attributes.append(_kv("highlight.session_id", f"benchsession{n % 200:04d}"))
            spans.append(
                Span(
                    trace_id=n.to_bytes(8, "big") + k.to_bytes(8, "big"),
                    span_id=(k + 1).to_bytes(8, "big"),
                    name="POST /api/checkout",
                    kind=Span.SPAN_KIND_SERVER,
                    start_time_unix_nano=now_ns + k * 1_000_000,
                    end_time_unix_nano=now_ns + k * 1_000_000 + 800_000,
                    attributes=attributes,
                )
            )
        request = ExportTraceServiceRequest(
            resource_spans=[
                ResourceSpans(
                    resource=Resource(
                        attributes=[
                            _kv("service.name", "checkout-api"),
                            _kv("highlight.project_id", "1jdkoe52"),
                        ]
                    ),
                    scope_spans=[ScopeSpans(spans=spans)],
                )
            ]
        )
        exports.append(request.SerializeToString())
    return exports


@dataclass(frozen=True)
class Result:
    transport: str
    exports: int
    seconds: float
    failed: int
    server_cpu_seconds: float
    p50_ms: float
    p99_ms: float
    rss_mb: float

    @property
    def exports_per_second(self) -> float:
        return self.exports / self.seconds

    @property
    def cpu_ms_per_1000(self) -> float:
        return self.server_cpu_seconds * 1_000_000 / max(self.exports, 1)


async def _drive(
    send: Callable[[bytes], Awaitable[bool]],
    exports: list[bytes],
    seconds: float,
    concurrency: int,
) -> tuple[int, int, list[float]]:
    """Send exports (round robin) until `seconds` have passed; (ok, failed, latencies)."""
    deadline = time.perf_counter() + seconds
    ok = failed = 0
    latencies: list[float] = []
    cursor = 0

    async def caller() -> None:
        nonlocal ok, failed, cursor
        while time.perf_counter() < deadline:
            body = exports[cursor % len(exports)]
            cursor += 1
            started = time.perf_counter()
            if await send(body):
                ok += 1
            else:
                failed += 1
            latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return ok, failed, latencies


async def _run(
    transport: str,
    server: Node,
    send: Callable[[bytes], Awaitable[bool]],
    exports: list[bytes],
    args: argparse.Namespace,
) -> Result:
    started_cpu = server.cpu_seconds()
    started = time.perf_counter()
    ok, failed, latencies = await _drive(send, exports, args.seconds, args.concurrency)
    elapsed = time.perf_counter() - started
    cpu = server.cpu_seconds() - started_cpu
    latencies.sort()
    return Result(
        transport=transport,
        exports=ok,
        seconds=elapsed,
        failed=failed,
        server_cpu_seconds=cpu,
        p50_ms=statistics.median(latencies) if latencies else 0.0,
        p99_ms=latencies[int(len(latencies) * 0.99)] if latencies else 0.0,
        rss_mb=server.peak_rss_mb(),
    )


async def _grpc(
    target: str, server: Node, exports: list[bytes], args: argparse.Namespace
) -> Result:
    async with grpc.aio.insecure_channel(target, compression=grpc.Compression.Gzip) as channel:
        export: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            TRACE_EXPORT, request_serializer=None, response_deserializer=None
        )

        async def send(body: bytes) -> bool:
            try:
                await export(body, timeout=30)
            except grpc.aio.AioRpcError as error:
                print(f"gRPC {error.code().name}: {error.details()}", file=sys.stderr)
                return False
            return True

        return await _run("OTLP/gRPC (gzip)", server, send, exports, args)


async def _http(server: Node, exports: list[bytes], args: argparse.Namespace) -> Result:
    compressed = {id(body): gzip.compress(body, 6) for body in exports}
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as client:
        headers = {"content-type": "application/x-protobuf", "content-encoding": "gzip"}

        async def send(body: bytes) -> bool:
            response = await client.post(
                "/v1/traces", content=compressed[id(body)], headers=headers
            )
            return response.status_code == 200

        return await _run("OTLP/HTTP protobuf (gzip)", server, send, exports, args)


def _grpc_target(log: Path) -> str:
    match = re.search(r"otlp grpc:\s+(\S+:\d+)", log.read_text(errors="replace"))
    if match is None:
        raise SystemExit(f"footlight printed no OTLP/gRPC address: see {log}")
    return match.group(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="concurrent callers (more than FOOTLIGHT_MAX_GRPC_EXPORTS, 8, are refused over gRPC)",
    )
    parser.add_argument("--exports", type=int, default=2000, help="distinct exports to cycle")
    parser.add_argument("--smoke", action="store_true", help="a second each, for CI")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.smoke:
        args.seconds, args.exports, args.concurrency = 1.0, 20, 4

    exports = build_exports(args.exports)
    work = Path(tempfile.mkdtemp(prefix="footlight-otlp-bench-"))
    data_dir = work / "data"
    data_dir.mkdir()
    server = start_footlight(data_dir, settings=ONE_CLIENT_FOR_MANY_BROWSERS)
    try:
        target = _grpc_target(server.log)
        results = [
            asyncio.run(_grpc(target, server, exports, args)),
            asyncio.run(_http(server, exports, args)),
        ]
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"{SPANS_PER_EXPORT} spans an export, {args.concurrency} concurrent callers,"
        f" {args.seconds:g} s each"
    )
    print(
        "| transport | exports/s | spans/s | server CPU / 1,000 exports | p50 / p99"
        " | peak RSS so far |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.transport} | {r.exports_per_second:,.0f} |"
            f" {r.exports_per_second * SPANS_PER_EXPORT:,.0f} | {r.cpu_ms_per_1000:,.0f} ms |"
            f" {r.p50_ms:.1f} / {r.p99_ms:.1f} ms | {r.rss_mb:.0f} MB |"
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    failed = sum(r.failed for r in results)
    if failed:
        print(f"{failed} exports were not acknowledged", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
