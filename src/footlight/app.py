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
from collections.abc import Awaitable, Callable

from footlight import terminal
from footlight.api.follow import Followers, FollowSettings
from footlight.api.routes import build_api
from footlight.config import Settings
from footlight.core import nesting
from footlight.core.ids import encode_project
from footlight.core.networks import parse_trusted_proxies
from footlight.edge.admission import ClientAdmission
from footlight.edge.asgi import (
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
from footlight.errors import GrpcBindError, HTTPError, shown
from footlight.graph import RequestContext, build_executor
from footlight.ingest import offload
from footlight.ingest.service import ClientInfo, Ingestor
from footlight.malloc import Trimmer
from footlight.processing.limits import DerivationLimits
from footlight.processing.worker import Processor
from footlight.store import Session, Store
from footlight.ui import build_ui

log = logging.getLogger("footlight")

Handler = Callable[[Request, Send], Awaitable[None]]


class FootlightApp:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
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
        )
        # Ingest tells processing of the jobs it queues (ingest does not import processing:
        # it is handed the callback), so new work is processed without waiting for a poll.
        self.ingest = Ingestor(
            store, settings.limits, self.processor.work_queued, first_session=_announce
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
        self.ui = build_ui(store, followers, settings.limits.body_timeout_seconds)
        keys = ClientKeys(settings.trusted_proxies)
        limits = settings.limits
        self.bodies = BodyBudget(
            limits.max_buffered_body_bytes, limits.max_buffered_body_bytes_per_client, keys
        )
        self.trimmer = Trimmer()
        admission = ClientAdmission(self.ingest.limiter, keys)
        self._scheme_proxies = (*settings.trusted_proxies, *parse_trusted_proxies("127.0.0.1"))
        graphql = GraphQLEndpoint(
            build_executor(settings.limits), settings.limits, self._context, admission
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
            "/readyz": Readyz(store),
        }

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
        path = str(scope["path"])
        if path.startswith("/api/"):
            await self.api(scope, receive, send)
            return
        if path == "/ui" or path.startswith("/ui/"):
            self._forwarded_scheme(Request(scope, receive))
            await self.ui(scope, receive, send)
            return
        handler = self.routes.get(path)
        if handler is None:
            await respond_json(send, 404, error_body(f"no route {path}", "NOT_FOUND"))
            return
        request = Request(scope, receive, self.bodies.lease(scope))
        try:
            await handler(request, send)
        except HTTPError as exc:
            await respond_json(send, exc.status, http_error_body(exc), headers=exc.headers)
        finally:
            if request.lease is not None:
                self.trimmer.freed(request.lease.release())

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
                refusals = asyncio.create_task(
                    self.ingest.refusals.run(self.store, self.settings.limits.refusals_kept),
                    name="refusals",
                )
                # Everything alive now (modules, schema, caches) lives as long as the process:
                # keep it out of the collector's full passes, which otherwise grow with it.
                gc.collect()
                gc.freeze()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.otlp_grpc is not None:
                    await self.otlp_grpc.stop()
                for task in (processing, usage, refusals):
                    if task is not None:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                await self.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _announce(session: Session) -> None:
    """The first session this process started for a project: the operator wiring a site
    sees it arrive without opening the UI."""
    sdk = f" (highlight.run {shown(session.client_version)})" if session.client_version else ""
    print(
        f"first session of project {encode_project(session.project_id)}{sdk}:"
        f" {shown(session.secure_id)}; /ui/setup shows what arrives for each project",
        flush=True,
    )


def app_from_environment() -> FootlightApp:
    """The app a worker process builds (uvicorn's factory): settings from FOOTLIGHT_* vars."""
    from footlight.config import load_settings
    from footlight.store import open_store

    terminal.install()
    settings = load_settings()
    nesting.configure(settings.limits.max_json_depth)
    return FootlightApp(settings, open_store(settings))
