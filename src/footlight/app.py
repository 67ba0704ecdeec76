"""The ASGI application: routes and lifespan.

Request path (see each module's docstring for its part):

    uvicorn ─► FootlightApp.__call__ ─► route
        /, /public          edge.graphql_http  ─► graph.Executor ─► graph.resolvers
                                                  ─► ingest.Ingestor ─► store (commit)
        /v1/{traces,...}    edge.otlp          ─► ingest.Ingestor ─► store (commit)
    grpcio (own port) ─► edge.otlp_grpc ─► (as edge.otlp)
        /healthz, /readyz   edge.health
        /api/v1/...         api.routes (Starlette; bearer tokens) ─► store reads
        /ui/...             ui.pages (Starlette; sign-in cookie) ─► store reads

The store is opened in the ASGI lifespan, so a server that cannot open its store never
starts listening, and it is closed (its queued writes committed) on shutdown. Processing
(`footlight.processing.worker`) runs as a task of the same event loop, its CPU-heavy part
on worker threads; ingest wakes it when a request queued a job.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from footlight import logs, metrics
from footlight.api.follow import Followers, FollowSettings
from footlight.api.routes import build_api
from footlight.config import Settings
from footlight.core.ids import encode_project
from footlight.core.networks import parse_trusted_proxies
from footlight.edge.admission import ClientAdmission
from footlight.edge.asgi import (
    Message,
    Receive,
    Request,
    Scope,
    Send,
    error_body,
    http_error_body,
    respond_json,
)
from footlight.edge.bodies import BodyBudget
from footlight.edge.clients import ClientKeys, is_trusted_proxy
from footlight.edge.graphql_http import GraphQLEndpoint
from footlight.edge.health import Readyz, healthz
from footlight.edge.otlp import OtlpEndpoint
from footlight.edge.otlp_grpc import OtlpGrpcServer
from footlight.edge.scrape import MetricsEndpoint
from footlight.errors import GrpcBindError, HTTPError, StoreUnavailable, shown
from footlight.graph import RequestContext, build_executor
from footlight.ingest import offload
from footlight.ingest.service import ClientInfo, Ingestor
from footlight.malloc import Trimmer
from footlight.processing.assets import AssetCapture, CaptureSettings
from footlight.processing.limits import DerivationLimits
from footlight.processing.worker import Processor
from footlight.store import Session, Store
from footlight.store.base import JobKind
from footlight.store.forwarding import ForwardedIngestStore, WriteService
from footlight.ui import build_ui

log = logging.getLogger("footlight")
access = logging.getLogger("footlight.access")

ROUTE_LABELS = {
    "/": "graphql",
    "/public": "graphql",
    "/public/": "graphql",
    "/v1/traces": "otlp",
    "/v1/metrics": "otlp",
    "/v1/logs": "otlp",
    "/healthz": "health",
    "/readyz": "health",
    "/metrics": "metrics",
}
"""Each route's name in the `footlight_requests_total` metric (tests/edge/test_scrape.py
checks that every route has one); other paths count as `other`."""
_INGEST_ROUTES = ("graphql", "otlp")

Handler = Callable[[Request, Send], Awaitable[None]]


class _Answer:
    """The app's `send`, noting the status of the answer for metrics and the access log."""

    __slots__ = ("send", "status")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        await self.send(message)


class FootlightApp:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        write_service: Path | None = None,
        forward_writes: Path | None = None,
    ) -> None:
        """`write_service`: this process is the primary of several (`FOOTLIGHT_WORKERS`) and
        runs the others' forwarded writes, listening at that path; `forward_writes`: this
        process is an acceptor and sends ingest's writes there (see store.forwarding)."""
        self.settings = settings
        self.store = store
        self.write_service = None if write_service is None else WriteService(store, write_service)
        self.forwarded = (
            None
            if forward_writes is None
            else ForwardedIngestStore(store, forward_writes, lost=_stop_this_process)
        )
        offload.configure(settings.ingest_threads)
        self.processor = Processor(
            store,
            max_inflated_bytes=settings.limits.max_inflated_bytes,
            poll_seconds=settings.processing_poll_seconds,
            lease_ms=int(settings.processing_lease_seconds * 1000),
            limits=DerivationLimits.from_limits(settings.limits),
            max_attempts=settings.processing_max_attempts,
            session_delay_seconds=settings.session_inactivity_seconds,
            live_delay_seconds=settings.live_delay_seconds,
            live_followed_sessions=settings.live_followed_sessions,
            live_followed_bytes=settings.live_followed_bytes,
            live_share=settings.live_share,
        )
        # Asset capture waits on other sites: a loop of its own, so it never holds up the
        # processing of sessions.
        self.capture = (
            Processor(
                store,
                max_inflated_bytes=settings.limits.max_inflated_bytes,
                poll_seconds=settings.processing_poll_seconds,
                lease_ms=int(settings.processing_lease_seconds * 1000),
                max_attempts=settings.processing_max_attempts,
                retention_every_seconds=None,
                kinds=("assets",),
                capture=AssetCapture(store, CaptureSettings.of(settings)),
                assets_delay_seconds=settings.asset_delay_seconds,
            )
            if settings.asset_capture
            else None
        )
        # Ingest tells processing of the jobs it queues (ingest does not import processing:
        # it is handed the callback), so new work is processed without waiting for a poll.
        self.ingest = Ingestor(
            self.forwarded or store, settings.limits, self._work_queued, first_session=_announce
        )
        # One bound on the requests that wait for a live recording, for the API and the UI.
        followers = Followers(
            FollowSettings(
                wait_seconds=settings.follow_wait_seconds,
                quiet_seconds=settings.live_quiet_seconds,
                max_followers=settings.max_followers,
            )
        )
        self.api = build_api(store, followers)
        self.ui = build_ui(
            store, followers, settings.limits.body_timeout_seconds, settings.replay_external
        )
        keys = ClientKeys(settings.trusted_proxies)
        limits = settings.limits
        self.bodies = BodyBudget(
            limits.max_buffered_body_bytes, limits.max_buffered_body_bytes_per_client, keys
        )
        self.trimmer = Trimmer()
        admission = ClientAdmission(self.ingest.limiter, keys)
        self._scheme_proxies = (*settings.trusted_proxies, *parse_trusted_proxies("127.0.0.1"))
        graphql = GraphQLEndpoint(
            build_executor(settings.limits, fast_path=settings.graphql_fast_path),
            settings.limits,
            self._context,
            admission,
        )
        self.otlp_grpc = (
            None
            if settings.otlp_grpc_port is None
            else OtlpGrpcServer(
                self.ingest,
                limits,
                admission,
                host=settings.host,
                port=settings.otlp_grpc_port,
                shared_port=settings.workers > 1,
            )
        )
        self.routes: dict[str, Handler] = {
            "/": graphql,
            "/public": graphql,
            "/public/": graphql,
            "/v1/traces": OtlpEndpoint(self.ingest, settings.limits, "traces", admission),
            "/v1/metrics": OtlpEndpoint(self.ingest, settings.limits, "metrics", admission),
            "/v1/logs": OtlpEndpoint(self.ingest, settings.limits, "logs", admission),
            "/healthz": healthz,
            "/readyz": Readyz(store, self.ingest.disk.reason),
            "/metrics": MetricsEndpoint(
                store.store_gauges,
                settings.metrics_allow,
                settings.metrics_token,
                settings.trusted_proxies,
            ),
        }

    def _work_queued(self, kind: JobKind) -> None:
        self.processor.work_queued(kind)
        if self.capture is not None:
            self.capture.work_queued(kind)

    def _context(self, request: Request, client_key: str, request_bytes: int) -> RequestContext:
        client = ClientInfo(
            request.header("user-agent"),
            request.header("accept-language"),
            client_key,
            request_bytes,
        )
        return RequestContext(self.ingest, client)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        logs.request_id.set(logs.new_request_id())
        answer = _Answer(send)
        path = str(scope["path"])
        handler = self.routes.get(path)
        # Ingest's routes (the hot path) get their request with its body lease at once.
        request = Request(scope, receive, self.bodies.lease(scope) if handler else None)
        if handler is not None:
            route = ROUTE_LABELS[path]
            await self._handle(handler, request, answer)
        elif path.startswith("/api/"):
            route = "api"
            await self.api(scope, receive, answer)
        elif path == "/ui" or path.startswith("/ui/"):
            route = "ui"
            self._forwarded_scheme(request)
            await self.ui(scope, receive, answer)
        else:
            route = "other"
            await respond_json(answer, 404, error_body(f"no route {path}", "NOT_FOUND"))
        self._record(route, request, answer.status, time.perf_counter() - started)

    async def _handle(self, handler: Handler, request: Request, send: Send) -> None:
        try:
            await handler(request, send)
        except HTTPError as exc:
            request.note.code, request.note.message = exc.code, exc.message
            await respond_json(send, exc.status, http_error_body(exc), headers=exc.headers)
        finally:
            if request.lease is not None:
                self.trimmer.freed(request.lease.release())

    def _record(self, route: str, request: Request, status: int, seconds: float) -> None:
        """Count the answered request, and time it if it was ingest's."""
        note = request.note
        if note.code is not None:
            outcome = note.code
        elif 200 <= status < 400:
            outcome = "ok"
        else:
            outcome = f"http_{status}"
        ingest = route in _INGEST_ROUTES
        metrics.answered(
            route, note.operation, outcome, (seconds, note.body_bytes) if ingest else None
        )
        refused = note.code is not None or status >= 400
        if refused and status != 429 and ingest:
            # What a site's wiring gets wrong shows here first. 429s are not logged one by
            # one: the limiter logs each limit once a minute per client, or a flood would
            # flood the log too.
            access.info(
                "%s %s %s -> %d %s: %s",
                request.method,
                request.path,
                note.operation or "-",
                status,
                note.code or "-",
                (note.message or "")[:300],
                extra={"status": status, "code": note.code, "route": route},
            )

    def _forwarded_scheme(self, request: Request) -> None:
        """HTTPS as a reverse proxy saw it: the UI's sign-in cookie is Secure behind a TLS
        proxy on this machine (or a trusted one), which says so in X-Forwarded-Proto."""
        proto = request.header("x-forwarded-proto")
        client = request.scope.get("client")
        peer = client[0] if client else None
        if proto in ("http", "https") and is_trusted_proxy(peer, self._scheme_proxies):
            request.scope["scheme"] = proto

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        processing: asyncio.Task[None] | None = None
        capture: asyncio.Task[None] | None = None
        usage: asyncio.Task[None] | None = None
        refusals: asyncio.Task[None] | None = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.store.open()
                except Exception as exc:
                    log.error("cannot open the store: %s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                try:
                    if self.write_service is not None:
                        await self.write_service.start()
                    if self.forwarded is not None:
                        await self.forwarded.connect(wait_seconds=_PRIMARY_START_SECONDS)
                except (OSError, StoreUnavailable) as exc:
                    log.error("cannot reach the primary process's writer: %s", exc)
                    await self.store.close()
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                if self.otlp_grpc is not None:
                    try:
                        await self.otlp_grpc.start()
                    except GrpcBindError as exc:
                        log.error("%s", exc)
                        await self.store.close()
                        await send({"type": "lifespan.startup.failed", "message": str(exc)})
                        return
                offload.start()
                # Quotas need the store's totals from the start; later syncs run every
                # FOOTLIGHT_QUOTA_SYNC_SECONDS (see ingest.quotas).
                await self.ingest.limiter.usage.sync()
                usage = asyncio.create_task(self.ingest.limiter.usage.run(), name="usage")
                processing = asyncio.create_task(self.processor.run(), name="processing")
                capture = (
                    None
                    if self.capture is None
                    else asyncio.create_task(self.capture.run(), name="asset capture")
                )
                refusals = asyncio.create_task(
                    self.ingest.refusals.run(self.store, self.settings.limits.refusals_kept),
                    name="refusals",
                )
                # Everything alive now (modules, schema, caches) lives as long as the process:
                # keep it out of the collector's full passes, which otherwise grow with it.
                gc.collect()
                gc.freeze()
                gc.set_threshold(_GC_YOUNG_OBJECTS, *gc.get_threshold()[1:])
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.otlp_grpc is not None:
                    await self.otlp_grpc.stop()
                for task in (processing, capture, usage, refusals):
                    if task is not None:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                if self.forwarded is not None:
                    await self.forwarded.close()
                if self.write_service is not None:
                    await self.write_service.stop()
                await self.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


_GC_YOUNG_OBJECTS = 10_000
"""Container allocations (net) between young-generation collections (CPython's default: 700).

A collection walks every young object still alive, and at any moment those are mostly the
requests in flight (tens of objects each, at 64 concurrent requests a few thousand): with the
default, the collector walked them over and over, ~3 % of the event loop's CPU under load.
Garbage cycles are rare here (requests free by reference counting), so collecting less often
keeps memory the same."""

_PRIMARY_START_SECONDS = 60.0
"""How long an acceptor waits for the primary's writer at start (the primary migrates the
store first)."""


def _stop_this_process() -> None:
    """An acceptor whose primary has gone stops as on Ctrl-C; `footlight serve` starts it
    again with the primary."""
    os.kill(os.getpid(), signal.SIGTERM)


def _announce(session: Session) -> None:
    """The first session this process started for a project: the operator wiring a site
    sees it arrive without opening the UI."""
    sdk = f" (highlight.run {shown(session.client_version)})" if session.client_version else ""
    print(
        f"first session of project {encode_project(session.project_id)}{sdk}:"
        f" {shown(session.secure_id)}; /ui/setup shows what arrives for each project",
        flush=True,
    )
