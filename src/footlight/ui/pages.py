"""The pages of the UI: sign-in, the session list, a session's replay, error groups.

Pages are rendered on the server from the same store reads the API makes (Jinja2
templates in `templates/`, autoescaped); the only script is `static/session.js`, which
fetches the session's events and drives the rrweb player. Every page but the login form
needs a sign-in (`auth.py`): without one, a page redirects to the login form and a data
URL answers 401. A session or error group of a project the token may not read is a 404,
like one that does not exist, so a token learns nothing about other projects.

A session page reads at most what it shows: `PANE_ROWS` rows per pane (one more, to know
that there are more), with the same paged store reads as the API, never a whole timeline.

The two POST forms (sign in, sign out) are refused with 403 when the browser says the form
was sent from another site (`Sec-Fetch-Site`, or `Origin` where that is missing): a sign-in
made on another site's behalf would sign the browser in to the attacker's token (login CSRF).
The form's body must arrive within `body_timeout_seconds`, like an ingest body, or 408.

The Content-Security-Policy lets scripts come from this server only. Styles, images and
fonts may come from anywhere, because the replay renders the recorded site's own
stylesheets and images inside the player's iframe (which inherits this policy); rrweb
rewrites the recorded page's scripts into inert elements, and the policy is a second lock.
A session whose project keeps its assets (FOOTLIGHT_REPLAY_EXTERNAL) gets a policy that
lets styles, fonts and images come from this server only: its replay contacts nobody else.

(A little over 500 lines: one page handler per route, each short; the sign-in forms would be
the first to move out should it grow.)
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)

from footlight.api.events import stream_events
from footlight.api.follow import Followers, wants_page
from footlight.api.network import network_page
from footlight.api.params import (
    error_group_after,
    error_group_cursor,
    log_cursor,
    log_query,
    param,
    projects_param,
    session_cursor,
    session_query,
)
from footlight.api.replay_assets import events_reader, serve_asset
from footlight.core.clock import now_ms
from footlight.core.ids import encode_project
from footlight.core.records import NetworkRequest
from footlight.edge.asgi import RETRY_AFTER_SECONDS
from footlight.errors import HTTPError, ReadTimeout
from footlight.store.base import (
    MAX_VIEW_FIELDS,
    ApiToken,
    BackendService,
    ErrorGroupView,
    ErrorView,
    IntakeRefusal,
    Project,
    ProjectIntake,
    ReadStore,
    SessionView,
    SpanRecord,
)
from footlight.store.base import Page as RowPage
from footlight.ui import auth
from footlight.ui.format import FILTERS
from footlight.ui.status import project_lines, project_title, read_status, store_lines

PAGE_SIZE = 50
PANE_ROWS = 2000
"""Rows a session page shows per pane (and reads); the read API pages through them all."""
MAX_FORM_BYTES = 8 * 1024
HERE = Path(__file__).parent
PLAYER_BUNDLE = HERE / "static" / "vendor" / "rrweb-player.js"


def _policy(replay_loads_from: str) -> str:
    """The pages' Content-Security-Policy; `replay_loads_from` is where the replay's frame
    (which inherits it) may load the recorded page's styles, fonts, images and media."""
    return (
        "default-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none';"
        " base-uri 'self'; form-action 'self'; frame-ancestors 'none';"
        f" style-src {replay_loads_from} 'unsafe-inline'; img-src {replay_loads_from} data: blob:;"
        f" font-src {replay_loads_from} data:; media-src {replay_loads_from} data: blob:"
    )


SECURITY_HEADERS = {
    "content-security-policy": _policy("*"),
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}
REPLAY_OFFLINE_CSP = _policy("'self'")
"""A session page whose replay must contact nobody else (FOOTLIGHT_REPLAY_EXTERNAL): styles,
fonts, images and media from footlight (the kept assets) or inline only."""

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters.update(FILTERS)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


async def render_off_the_loop(request: Request, template: str, **context: Any) -> HTMLResponse:
    """`render` on a worker thread, for a page of thousands of rows: rendering it takes
    ~100 ms, which on the event loop would hold up every push meanwhile."""
    return await asyncio.to_thread(render, request, template, **context)


def _store(request: Request) -> ReadStore:
    store: ReadStore = request.app.state.store
    return store


Page = Callable[[Request, ApiToken], Awaitable[Response]]


def signed_in_page(page: Page) -> Callable[[Request], Awaitable[Response]]:
    """A page that needs a sign-in; without one, the login form (coming back here after)."""

    async def endpoint(request: Request) -> Response:
        token = await auth.signed_in(_store(request), request)
        if token is None:
            back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            query = urllib.parse.urlencode({"next": back})
            return RedirectResponse(f"/ui/login?{query}", status_code=303)
        try:
            return await page(request, token)
        except HTTPError as exc:
            return render(request, "problem.html", exc.status, token=token, message=exc.message)

    return endpoint


# -- signing in and out ------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only a path of this UI may be where the login form sends the browser next."""
    if target and target.startswith("/ui/") and not target.startswith("/ui//"):
        return target
    return "/ui/sessions"


def _cross_site(request: Request) -> bool:
    """Whether the browser says this request comes from a page of another site.

    `Sec-Fetch-Site` is the browser's own verdict and survives proxies that rewrite `Host`;
    where it is missing (older browsers), `Origin` must name the host the request was sent
    to. A request with neither is no browser's form post (curl, scripts): let through.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site.strip().lower() not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return False
    host = request.headers.get("host", "").strip().lower()
    sent_from = urllib.parse.urlsplit(origin.strip())
    return origin.strip() == "null" or not host or sent_from.netloc.lower() != host


def _body_timeout(request: Request) -> float:
    seconds: float = request.app.state.body_timeout_seconds
    return seconds


async def _form(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        raise HTTPError(
            415, "send the form as application/x-www-form-urlencoded", "UNSUPPORTED_MEDIA_TYPE"
        )
    timeout = _body_timeout(request)
    try:
        async with asyncio.timeout(timeout):
            body = await _form_body(request)
    except TimeoutError:
        raise HTTPError(
            408,
            f"the form was not received within {timeout:g} s (limit: body_timeout_seconds)",
            "REQUEST_TIMEOUT",
        ) from None
    try:
        pairs = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        raise HTTPError(400, "the form is not UTF-8", "BAD_REQUEST") from None
    return dict(pairs)


async def _form_body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPError(
                413, f"the form is larger than {MAX_FORM_BYTES} bytes", "PAYLOAD_TOO_LARGE"
            )
    return body


async def login_form(request: Request) -> Response:
    next_page = _safe_next(request.query_params.get("next"))
    if await auth.signed_in(_store(request), request) is not None:
        return RedirectResponse(next_page, status_code=303)
    return _login_page(request, next_page)


def _login_page(request: Request, next_page: str, status: int = 200, error: str = "") -> Response:
    return render(
        request,
        "login.html",
        status,
        token=None,
        next_page=next_page,
        error=error,
        in_the_clear=not auth.is_private_transport(request),
    )


CROSS_SITE = "refused: this form was sent from another site"


async def login(request: Request) -> Response:
    if _cross_site(request):
        return _login_page(request, "/ui/sessions", 403, f"Sign-in {CROSS_SITE}.")
    try:
        form = await _form(request)
    except HTTPError as exc:
        return _login_page(request, "/ui/sessions", exc.status, exc.message)
    next_page = _safe_next(form.get("next"))
    token = form.get("token", "").strip()
    if not token:
        return _login_page(request, next_page, 400, "paste an API token")
    response = RedirectResponse(next_page, status_code=303)
    if not await auth.sign_in(_store(request), request, token, response):
        return _login_page(request, next_page, 401, "unknown or revoked token")
    return response


async def logout(request: Request) -> Response:
    if _cross_site(request):
        return render(request, "problem.html", 403, token=None, message=f"Sign-out {CROSS_SITE}.")
    response = RedirectResponse("/ui/login", status_code=303)
    await auth.sign_out(_store(request), request, response)
    return response


async def store_unavailable(request: Request, exc: Exception) -> Response:
    """Any page or data URL while the store cannot be reached: 503, try again shortly."""
    message = str(exc) if isinstance(exc, ReadTimeout) else f"storage is unavailable: {exc}"
    response = _problem(request, 503, message)
    response.headers["retry-after"] = RETRY_AFTER_SECONDS
    return response


async def store_refused(request: Request, exc: Exception) -> Response:
    """A value the store cannot hold (e.g. a NUL in a filter, on PostgreSQL): bad input."""
    return _problem(request, 400, str(exc))


def _problem(request: Request, status: int, message: str) -> Response:
    if request.url.path.endswith("/events"):
        return JSONResponse({"error": message}, status_code=status)
    return render(request, "problem.html", status, token=None, message=message)


async def home(request: Request) -> Response:
    return RedirectResponse("/ui/sessions", status_code=303)


# -- sessions ----------------------------------------------------------------------------------


async def _projects(request: Request, token: ApiToken) -> list[dict[str, Any]]:
    return [
        {"id": p.id, "verbose_id": encode_project(p.id), "name": p.name}
        for p in await _store(request).list_projects()
        if token.project_id in (None, p.id)
    ]


async def sessions(request: Request, token: ApiToken) -> Response:
    query = session_query(request, token, PAGE_SIZE, naive_is_utc=True)
    found = await _store(request).list_sessions(query)
    cursor = session_cursor(found, PAGE_SIZE)
    filters = {k: v for k, v in request.query_params.items() if k != "cursor" and v}
    return render(
        request,
        "sessions.html",
        token=token,
        sessions=found,
        projects=await _projects(request, token),
        filters=filters,
        next_page=_with_query(request, cursor=cursor) if cursor else None,
        first_page=_with_query(request, cursor=None) if query.after else None,
    )


def _with_query(request: Request, **changes: str | None) -> str:
    params = {k: v for k, v in request.query_params.items() if v}
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return request.url.path + ("?" + urllib.parse.urlencode(params) if params else "")


async def _readable_session(request: Request, token: ApiToken) -> SessionView:
    secure_id = request.path_params["secure_id"]
    view = await _store(request).session_view(secure_id)
    if view is None or token.project_id not in (None, view.project_id):
        raise HTTPError(404, f"no session {secure_id!r}", "NOT_FOUND")
    return view


async def session(request: Request, token: ApiToken) -> Response:
    view = await _readable_session(request, token)
    store = _store(request)
    payloads, _ = await store.payload_totals(view.secure_id)
    origins = await store.asset_origins(view.project_id)
    mode: str = request.app.state.replay_external
    blocked = mode == "block" or (mode == "auto" and bool(origins))
    report = await store.session_asset_report(view.id)
    response = await render_off_the_loop(
        request,
        "session.html",
        token=token,
        has_recording=payloads > 0,
        player_installed=PLAYER_BUNDLE.is_file(),
        asset_origins=origins,
        assets=report if origins or report.counts else None,
        external_blocked=blocked,
        **await _session_parts(request, view),
    )
    if blocked:
        # The replay's frame inherits this page's policy: it loads nothing from other sites.
        response.headers["content-security-policy"] = REPLAY_OFFLINE_CSP
    return response


async def session_live(request: Request, token: ApiToken) -> Response:
    """What a live session's page refreshes while it records: its facts line and panes."""
    view = await _readable_session(request, token)
    response = await render_off_the_loop(
        request, "_live.html", token=token, **await _session_parts(request, view)
    )
    response.headers["cache-control"] = "no-store"
    return response


async def _session_parts(request: Request, view: SessionView) -> dict[str, Any]:
    """What the facts line and the panes of a session page show."""
    store = _store(request)
    secure_id = view.secure_id
    panes: dict[str, RowPage[Any]] = {
        "console": await store.console_page(secure_id, None, PANE_ROWS),
        "network": await network_page(store, secure_id, None, PANE_ROWS),
        "websocket": await store.websocket_page(secure_id, None, PANE_ROWS),
        "errors": await store.session_errors_page(secure_id, None, PANE_ROWS),
        "tracks": await store.track_page(secure_id, None, PANE_ROWS),
        "feedback": await store.feedback_page(secure_id, None, PANE_ROWS),
    }
    context: dict[str, Any] = {name: page.items for name, page in panes.items()}
    context["traces"] = await _backend_traces(
        store, view, panes["network"].items, panes["errors"].items
    )
    return {
        "session": view,
        "fields": view.properties(),
        "cut": {name: page.next_after is not None for name, page in panes.items()},
        "pane_rows": PANE_ROWS,
        "max_fields": MAX_VIEW_FIELDS,
        **context,
    }


MAX_TRACES = 500
"""Traces of a session page's requests whose backend spans it reads (its first ones)."""


@dataclass(frozen=True)
class TraceBar:
    """One backend span of a request's trace, placed on the request's time line."""

    label: str
    duration_ms: float | None
    left: float
    """Where it starts, in percent of the waterfall's width."""
    width: float
    failed: bool


@dataclass(frozen=True)
class BackendTrace:
    """What the backends did for one browser request: their spans as a waterfall, the time
    the outermost one took (the server's duration), and the errors recorded on the trace."""

    server_ms: float | None
    bars: list[TraceBar]
    errors: list[ErrorView]


async def _backend_traces(
    store: ReadStore,
    view: SessionView,
    requests: Sequence[NetworkRequest],
    errors: Sequence[ErrorView],
) -> dict[str, BackendTrace]:
    """The backend side of the traces the session's requests started, by trace id."""
    own = {r.trace_id: r for r in requests if r.trace_id}
    if not own:
        return {}
    wanted = sorted(own)[:MAX_TRACES]
    spans = await store.trace_spans(wanted, (view.project_id,), None, PANE_ROWS)
    by_trace: dict[str, list[SpanRecord]] = {}
    for found in spans:
        request = own[found.span.trace_id]
        if found.span.span_id != request.span_id:
            by_trace.setdefault(found.span.trace_id, []).append(found.span)
    failed: dict[str, list[ErrorView]] = {}
    for error in errors:
        if error.trace_id in by_trace:
            failed.setdefault(error.trace_id, []).append(error)
    return {
        trace: _waterfall(own[trace], backend, failed.get(trace, []))
        for trace, backend in by_trace.items()
    }


def _waterfall(
    request: NetworkRequest, spans: list[SpanRecord], errors: list[ErrorView]
) -> BackendTrace:
    ends = [s.ended_at for s in spans if s.ended_at is not None]
    start = min([request.start, *(s.started_at for s in spans)])
    end = max([request.end or request.start, *ends, start])
    width = max(end - start, 1.0)
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if s.parent_span_id not in ids]
    outer = max(roots, key=lambda s: (s.ended_at or s.started_at) - s.started_at, default=None)
    bars = []
    for s in spans:
        took = None if s.ended_at is None else s.ended_at - s.started_at
        bars.append(
            TraceBar(
                label=" · ".join(part for part in (s.service_name, s.name) if part),
                duration_ms=took,
                left=round((s.started_at - start) / width * 100, 2),
                width=round(max((took or 0) / width * 100, 0.5), 2),
                failed=s.status_code == "error"
                or any(e.get("name") == "exception" for e in s.events),
            )
        )
    server = None if outer is None or outer.ended_at is None else outer.ended_at - outer.started_at
    return BackendTrace(server, bars, errors)


async def _data_session(request: Request) -> SessionView | JSONResponse:
    """The session a data URL of the player names, if the sign-in may read it; else the
    JSON answer (401 or 404) rather than a page."""
    store = _store(request)
    token = await auth.signed_in(store, request)
    if token is None:
        return JSONResponse({"error": "sign in at /ui/login"}, status_code=401)
    secure_id = request.path_params["secure_id"]
    view = await store.session_view(secure_id)
    if view is None or token.project_id not in (None, view.project_id):
        return JSONResponse({"error": f"no session {secure_id!r}"}, status_code=404)
    return view


async def session_events(request: Request) -> Response:
    """The events the player replays."""
    view = await _data_session(request)
    if isinstance(view, JSONResponse):
        return view
    store, secure_id = _store(request), view.secure_id
    prefix = f"/ui/sessions/{secure_id}/assets"
    read = await events_reader(store, view, request.query_params, prefix)
    if wants_page(request):
        followers: Followers = request.app.state.followers
        try:
            page = await followers.page(request, store, view, read)
        except HTTPError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        return Response(page, media_type="application/json", headers={"cache-control": "no-store"})
    return StreamingResponse(
        stream_events(store, secure_id, read),
        media_type="application/json",
        headers={"cache-control": "no-store"},
    )


async def session_asset(request: Request) -> Response:
    """A kept asset the player's frame loads; signed in by cookie like the events."""
    view = await _data_session(request)
    if isinstance(view, JSONResponse):
        return view
    response = await serve_asset(_store(request), view, request.path_params["digest"])
    if response is None:
        return JSONResponse({"error": "no such asset in this session"}, status_code=404)
    return response


# -- errors ------------------------------------------------------------------------------------


async def error_groups(request: Request, token: ApiToken) -> Response:
    after = error_group_after(request)
    found = await _store(request).error_groups(
        projects_param(request, token), after=after, limit=PAGE_SIZE
    )
    next_cursor = error_group_cursor(found, PAGE_SIZE)
    return render(
        request,
        "errors.html",
        token=token,
        groups=found,
        projects=await _projects(request, token),
        project=param(request, "project") or "",
        next_page=_with_query(request, cursor=next_cursor) if next_cursor else None,
        first_page=_with_query(request, cursor=None) if after else None,
    )


async def logs(request: Request, token: ApiToken) -> Response:
    query = log_query(request, token, PAGE_SIZE, naive_is_utc=True)
    store = _store(request)
    found = await store.logs(query)
    cursor = log_cursor(found, PAGE_SIZE)
    filters = {k: v for k, v in request.query_params.items() if k != "cursor" and v}
    return render(
        request,
        "logs.html",
        token=token,
        logs=found,
        services=await store.backend_services(query.project_ids),
        projects=await _projects(request, token),
        filters=filters,
        next_page=_with_query(request, cursor=cursor) if cursor else None,
        first_page=_with_query(request, cursor=None) if query.cursor else None,
    )


async def error_group(request: Request, token: ApiToken) -> Response:
    fingerprint = request.path_params["fingerprint"]
    store = _store(request)
    found = await store.error_groups(
        projects_param(request, token), fingerprint=fingerprint, limit=2
    )
    if not found:
        raise HTTPError(404, f"no error group {fingerprint!r}", "NOT_FOUND")
    if len(found) > 1:
        raise HTTPError(
            400, "that fingerprint is in several projects; pick one with ?project=", "BAD_REQUEST"
        )
    group: ErrorGroupView = found[0]
    recent = await store.errors((group.project_id,), fingerprint=fingerprint, limit=PAGE_SIZE)
    starts: dict[str, int | None] = {}
    for occurrence in recent:
        secure_id = occurrence.session_secure_id
        if secure_id and secure_id not in starts:
            starts[secure_id] = _replay_start(await store.session_view(secure_id, fields=False))
    occurrences = [
        {
            **asdict(e.error),
            "session_secure_id": e.session_secure_id,
            "offset_seconds": _offset_seconds(
                e.error.timestamp, starts.get(e.session_secure_id or "")
            ),
        }
        for e in recent
    ]
    return render(
        request,
        "error_group.html",
        token=token,
        group=group,
        verbose_project=encode_project(group.project_id),
        occurrences=occurrences,
    )


def _replay_start(view: SessionView | None) -> int | None:
    """When a session's replay starts (its first event), for links to a moment in it."""
    if view is None:
        return None
    if view.summary is not None and view.summary.started_at is not None:
        return view.summary.started_at
    return view.created_at


def _offset_seconds(timestamp: int, start: int | None) -> float:
    if start is None:
        return 0.0
    return round(max(0, timestamp - start) / 1000, 1)


# -- setup -------------------------------------------------------------------------------------

QUIET_MS = 5 * 60_000
"""A project whose newest data is older than this is said to have received none lately."""
SETUP_REFUSALS = 200
"""Kinds of refused requests the setup page reads (the most recently refused)."""


@dataclass(frozen=True)
class ProjectSetup:
    """One project on the setup page: what reached it, and what to paste."""

    project: Project
    verbose_id: str
    intake: ProjectIntake
    services: list[BackendService]
    refusals: list[IntakeRefusal]
    snippet: str
    quiet_minutes: int | None
    """Minutes since the newest browser data, when that is over QUIET_MS; else None."""


async def setup(request: Request, token: ApiToken) -> Response:
    """For each project: is the browser SDK recording, is a backend reporting, what was
    refused, and the snippet to paste."""
    store = _store(request)
    projects = [p for p in await store.list_projects() if token.project_id in (None, p.id)]
    ids = [p.id for p in projects]
    intake = {i.project_id: i for i in await store.project_intake(ids)}
    services: dict[int, list[BackendService]] = {}
    for service in await store.backend_services(ids):
        services.setdefault(service.project_id, []).append(service)
    verbose_ids = [encode_project(p.id) for p in projects]
    refused = await store.refusals(verbose_ids, SETUP_REFUSALS) if verbose_ids else []
    origin = str(request.base_url).rstrip("/")
    now = now_ms()
    rows = []
    for p in projects:
        verbose = encode_project(p.id)
        seen = intake[p.id]
        newest = max((t for t in (seen.last_push_at, seen.last_session_at) if t), default=None)
        rows.append(
            ProjectSetup(
                project=p,
                verbose_id=verbose,
                intake=seen,
                services=services.get(p.id, []),
                refusals=[r for r in refused if r.project == verbose],
                snippet=(
                    f"H.init('{verbose}', {{ backendUrl: '{origin}', otlpEndpoint: '{origin}' }})"
                ),
                quiet_minutes=(
                    (now - newest) // 60_000 if newest and now - newest > QUIET_MS else None
                ),
            )
        )
    # Requests naming a project this server lacks belong to no project: only a token that
    # reads every project sees them.
    unknown = await store.refusals(None, SETUP_REFUSALS) if token.project_id is None else []
    return render(request, "setup.html", token=token, projects=rows, unknown=unknown)


# -- status ------------------------------------------------------------------------------------


async def status(request: Request, token: ApiToken) -> Response:
    """What each project holds and what retention frees next; the store's disk, queue and
    sessions recording for a token of every project (they are every project's)."""
    store = _store(request)
    ids = None if token.project_id is None else [token.project_id]
    report = await read_status(store, "", now_ms(), ids)
    return render(
        request,
        "status.html",
        token=token,
        store=store_lines(report) if token.project_id is None else [],
        projects=[(project_title(p), project_lines(p), p) for p in report.projects],
    )
