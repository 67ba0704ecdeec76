"""The read API under /api/v1: projects, sessions, their events and timelines, errors, logs,
traces.

Every route needs a bearer token (`auth.py`); a token scoped to a project gets 403 for
another project's data, and a route that changes data (DELETE) needs a token with the admin
scope. Times are epoch milliseconds. Every list, a session's timelines too, is paginated:
`limit` (at most 200) and an opaque `cursor` taken from the previous page's `next_cursor`,
so no request reads more than a page of rows, however large the session. Answers are the
structs of `shapes.py`, whose schemas the OpenAPI document (`openapi.py`) is generated from;
a test keeps the document's routes and these in step.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from footlight.api import shapes
from footlight.api.auth import (
    authenticate,
    check_project,
    check_scope,
    readable_projects,
)
from footlight.api.events import stream_events
from footlight.api.follow import Followers, wants_page
from footlight.api.network import network_page
from footlight.api.openapi import openapi_document
from footlight.api.params import (
    decode_cursor,
    encode_cursor,
    error_group_after,
    error_group_cursor,
    fields_after,
    fields_cursor,
    limit_param,
    log_cursor,
    log_query,
    network_after,
    network_cursor,
    param,
    projects_param,
    session_cursor,
    session_query,
    timeline_after,
    timeline_cursor,
)
from footlight.api.replay_assets import events_reader, serve_asset
from footlight.edge.asgi import RETRY_AFTER_SECONDS
from footlight.errors import HTTPError, ReadTimeout, StoreError, StoreUnavailable
from footlight.store.base import ApiToken, ReadStore, SessionView, TimelineKey, TokenScope

_encode = msgspec.json.Encoder().encode


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(_encode(payload), status_code=status, media_type="application/json")


def _error(status: int, code: str, message: str) -> Response:
    response = json_response({"error": {"code": code, "message": message}}, status)
    if status == 401:
        response.headers["www-authenticate"] = 'Bearer realm="footlight"'
    return response


# -- handlers ----------------------------------------------------------------------------------

Handler = Callable[[Request, ApiToken], Awaitable[Response]]


def _store(request: Request) -> ReadStore:
    store: ReadStore = request.app.state.store
    return store


def authenticated(
    handler: Handler, scope: TokenScope = "read"
) -> Callable[[Request], Awaitable[Response]]:
    """`handler` behind a bearer token of at least `scope`, its errors as JSON answers."""

    async def endpoint(request: Request) -> Response:
        try:
            token = await authenticate(_store(request), request.headers.get("authorization"))
            check_scope(token, scope)
            return await handler(request, token)
        except HTTPError as exc:
            return _error(exc.status, exc.code, exc.message)
        except StoreError as exc:  # a value the store cannot hold, e.g. a NUL on PostgreSQL
            return _error(400, "BAD_REQUEST", str(exc))
        except StoreUnavailable as exc:
            message = str(exc) if isinstance(exc, ReadTimeout) else f"storage is unavailable: {exc}"
            response = _error(503, "SERVICE_UNAVAILABLE", message)
            response.headers["retry-after"] = RETRY_AFTER_SECONDS
            return response

    return endpoint


async def _session_for(request: Request, token: ApiToken, *, fields: bool = False) -> SessionView:
    secure_id = request.path_params["secure_id"]
    view = await _store(request).session_view(secure_id, fields=fields)
    if view is None:
        raise HTTPError(404, f"no session {secure_id!r}", "NOT_FOUND")
    check_project(token, view.project_id)
    return view


async def projects(request: Request, token: ApiToken) -> Response:
    store = _store(request)
    services: dict[int, list[shapes.BackendService]] = {}
    for service in await store.backend_services(readable_projects(token)):
        services.setdefault(service.project_id, []).append(shapes.BackendService.of(service))
    listed = [
        shapes.Project.of(p, services.get(p.id, []))
        for p in await store.list_projects()
        if token.project_id in (None, p.id)
    ]
    return json_response(shapes.ProjectList(projects=listed))


async def sessions(request: Request, token: ApiToken) -> Response:
    limit = limit_param(request)
    found = await _store(request).list_sessions(session_query(request, token, limit))
    return json_response(
        shapes.SessionPage(
            sessions=[shapes.Session.of(s) for s in found],
            next_cursor=session_cursor(found, limit),
        )
    )


async def session(request: Request, token: ApiToken) -> Response:
    view = await _session_for(request, token, fields=True)
    return json_response(shapes.Session.of(view, full=True))


async def delete_session(request: Request, token: ApiToken) -> Response:
    view = await _session_for(request, token)
    await _store(request).delete_session(view.secure_id)
    return Response(status_code=204)


async def events(request: Request, token: ApiToken) -> Response:
    view = await _session_for(request, token)
    prefix = f"/api/v1/sessions/{view.secure_id}/assets"
    read = await events_reader(_store(request), view, request.query_params, prefix)
    if wants_page(request):
        followers: Followers = request.app.state.followers
        page = await followers.page(request, _store(request), view, read)
        return Response(page, media_type="application/json")
    return StreamingResponse(
        stream_events(_store(request), view.secure_id, read), media_type="application/json"
    )


async def session_assets(request: Request, token: ApiToken) -> Response:
    view = await _session_for(request, token)
    report = await _store(request).session_asset_report(view.id)
    return json_response(shapes.SessionAssets.of(report))


async def session_asset(request: Request, token: ApiToken) -> Response:
    view = await _session_for(request, token)
    digest = request.path_params["digest"]
    response = await serve_asset(_store(request), view, digest)
    if response is None:
        raise HTTPError(404, f"session {view.secure_id!r} keeps no asset {digest!r}", "NOT_FOUND")
    return response


async def console(request: Request, token: ApiToken) -> Response:
    view = await _session_for(request, token)
    after, limit = timeline_after(request), limit_param(request)
    found = await _store(request).console_page(view.secure_id, after, limit)
    return json_response(
        shapes.ConsolePage(
            console=[shapes.ConsoleMessage.of(m) for m in found.items],
            next_cursor=timeline_cursor(found.next_after),
        )
    )


async def network(request: Request, token: ApiToken) -> Response:
    """Requests and websocket events: two lists paged together by one cursor, each up to
    `limit` a page; a list that has ended stays empty on the pages that follow."""
    view = await _session_for(request, token)
    store = _store(request)
    limit = limit_param(request)
    requests_after, sockets_after, requests_done, sockets_done = network_after(request)
    requests_next: TimelineKey | None = None
    sockets_next: TimelineKey | None = None
    requests: list[shapes.NetworkRequest] = []
    sockets: list[shapes.WebSocketEvent] = []
    if not requests_done:
        requests_page = await network_page(store, view.secure_id, requests_after, limit)
        requests = [shapes.NetworkRequest.of(r) for r in requests_page.items]
        requests_next = requests_page.next_after
    if not sockets_done:
        sockets_page = await store.websocket_page(view.secure_id, sockets_after, limit)
        sockets = [shapes.WebSocketEvent.of(w) for w in sockets_page.items]
        sockets_next = sockets_page.next_after
    return json_response(
        shapes.NetworkPage(
            network=requests,
            websocket=sockets,
            next_cursor=network_cursor(requests_next, sockets_next),
        )
    )


async def session_errors(request: Request, token: ApiToken) -> Response:
    view = await _session_for(request, token)
    after, limit = timeline_after(request), limit_param(request)
    found = await _store(request).session_errors_page(view.secure_id, after, limit)
    return json_response(
        shapes.ErrorPage(
            errors=[shapes.ErrorOccurrence.of_view(e) for e in found.items],
            next_cursor=timeline_cursor(found.next_after),
        )
    )


async def track(request: Request, token: ApiToken) -> Response:
    """Track events, paged; the track properties (of the session view) on every page."""
    view = await _session_for(request, token, fields=True)
    after, limit = timeline_after(request), limit_param(request)
    tracked = await _store(request).track_page(view.secure_id, after, limit)
    return json_response(
        shapes.TrackPage(
            events=[shapes.TrackEvent.of(t) for t in tracked.items],
            properties=view.properties()["track"],
            properties_complete=view.fields_complete,
            next_cursor=timeline_cursor(tracked.next_after),
        )
    )


async def feedback(request: Request, token: ApiToken) -> Response:
    view = await _session_for(request, token)
    after, limit = timeline_after(request), limit_param(request)
    found = await _store(request).feedback_page(view.secure_id, after, limit)
    return json_response(
        shapes.FeedbackPage(
            feedback=[shapes.Feedback.of(f) for f in found.items],
            next_cursor=timeline_cursor(found.next_after),
        )
    )


async def properties(request: Request, token: ApiToken) -> Response:
    view = await _session_for(request, token)
    limit = limit_param(request)
    found, more = await _store(request).fields_page(view.secure_id, fields_after(request), limit)
    return json_response(
        shapes.PropertyPage(
            properties=[shapes.Property.of(f) for f in found],
            next_cursor=fields_cursor(found, more),
        )
    )


async def errors(request: Request, token: ApiToken) -> Response:
    cursor = decode_cursor(request, int)
    limit = limit_param(request)
    found = await _store(request).errors(
        projects_param(request, token),
        fingerprint=param(request, "fingerprint"),
        before_id=cursor[0] if cursor else None,
        limit=limit,
    )
    next_cursor = encode_cursor(found[-1].id) if len(found) == limit else None
    return json_response(
        shapes.ErrorPage(
            errors=[shapes.ErrorOccurrence.of_view(e) for e in found], next_cursor=next_cursor
        )
    )


async def error_groups(request: Request, token: ApiToken) -> Response:
    limit = limit_param(request)
    found = await _store(request).error_groups(
        projects_param(request, token), after=error_group_after(request), limit=limit
    )
    return json_response(
        shapes.ErrorGroupPage(
            error_groups=[shapes.ErrorGroup.of(g) for g in found],
            next_cursor=error_group_cursor(found, limit),
        )
    )


async def error_group(request: Request, token: ApiToken) -> Response:
    fingerprint = request.path_params["fingerprint"]
    store = _store(request)
    projects = projects_param(request, token)
    found = await store.error_groups(projects, fingerprint=fingerprint, limit=2)
    if not found:
        raise HTTPError(404, f"no error group {fingerprint!r}", "NOT_FOUND")
    if len(found) > 1:
        raise HTTPError(
            400, "that fingerprint is in several projects; add ?project=", "BAD_REQUEST"
        )
    group = found[0]
    recent = await store.errors((group.project_id,), fingerprint=fingerprint, limit=50)
    return json_response(shapes.ErrorGroupDetail.of_group(group, recent))


async def logs(request: Request, token: ApiToken) -> Response:
    limit = limit_param(request)
    found = await _store(request).logs(log_query(request, token, limit))
    return json_response(
        shapes.LogPage(
            logs=[shapes.LogRecord.of(g) for g in found], next_cursor=log_cursor(found, limit)
        )
    )


_TRACE_ID = re.compile(r"[0-9a-f]{32}")
TRACE_ERRORS = 50
"""Errors a trace's answer lists (its latest)."""


async def trace(request: Request, token: ApiToken) -> Response:
    """A trace's spans (browser and backends), in start order, a page at a time, and its
    errors. A token of one project reads the spans of its sessions only."""
    trace_id = request.path_params["trace_id"].lower()
    if not _TRACE_ID.fullmatch(trace_id):
        raise HTTPError(400, "a trace id is 32 hex digits", "BAD_REQUEST")
    cursor = decode_cursor(request, float, int)
    limit = limit_param(request)
    store = _store(request)
    projects = readable_projects(token)
    after = (cursor[0], cursor[1]) if cursor else None
    spans = await store.trace_spans((trace_id,), projects, after, limit)
    errors = await store.errors(projects, trace_id=trace_id, limit=TRACE_ERRORS)
    if not spans and not errors and after is None:
        raise HTTPError(404, f"no trace {trace_id!r}", "NOT_FOUND")
    last = spans[-1] if len(spans) == limit else None
    return json_response(
        shapes.Trace(
            trace_id=trace_id,
            spans=[shapes.Span.of(s) for s in spans],
            errors=[shapes.ErrorOccurrence.of_view(e) for e in errors],
            next_cursor=None if last is None else encode_cursor(last.span.started_at, last.id),
        )
    )


async def openapi(request: Request, token: ApiToken) -> Response:
    return json_response(openapi_document())


ROUTES = [
    Route("/api/v1/openapi.json", authenticated(openapi)),
    Route("/api/v1/projects", authenticated(projects)),
    Route("/api/v1/sessions", authenticated(sessions)),
    Route("/api/v1/sessions/{secure_id}", authenticated(session), methods=["GET"]),
    Route(
        "/api/v1/sessions/{secure_id}",
        authenticated(delete_session, scope="admin"),
        methods=["DELETE"],
    ),
    Route("/api/v1/sessions/{secure_id}/events", authenticated(events)),
    Route("/api/v1/sessions/{secure_id}/assets", authenticated(session_assets)),
    Route("/api/v1/sessions/{secure_id}/assets/{digest}", authenticated(session_asset)),
    Route("/api/v1/sessions/{secure_id}/console", authenticated(console)),
    Route("/api/v1/sessions/{secure_id}/network", authenticated(network)),
    Route("/api/v1/sessions/{secure_id}/errors", authenticated(session_errors)),
    Route("/api/v1/sessions/{secure_id}/track", authenticated(track)),
    Route("/api/v1/sessions/{secure_id}/feedback", authenticated(feedback)),
    Route("/api/v1/sessions/{secure_id}/properties", authenticated(properties)),
    Route("/api/v1/errors", authenticated(errors)),
    Route("/api/v1/error-groups", authenticated(error_groups)),
    Route("/api/v1/error-groups/{fingerprint}", authenticated(error_group)),
    Route("/api/v1/logs", authenticated(logs)),
    Route("/api/v1/traces/{trace_id}", authenticated(trace)),
]


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error(404, "NOT_FOUND", f"no route {request.url.path}")


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return _error(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed here")


def build_api(store: ReadStore, followers: Followers) -> Starlette:
    app = Starlette(routes=ROUTES, exception_handlers={404: _not_found, 405: _not_allowed})
    app.state.store = store
    app.state.followers = followers
    return app
