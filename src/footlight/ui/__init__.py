"""The replay UI under /ui: server-rendered pages (`pages.py`) behind a sign-in with an API
token (`auth.py`), plus the static files, among them the pinned rrweb player that
`assets/` copies into `static/vendor/`."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from footlight.api.follow import Followers
from footlight.errors import StoreError, StoreUnavailable
from footlight.store.base import ReadStore
from footlight.ui import pages

ROUTES = [
    Route("/ui", pages.home),
    Route("/ui/", pages.home),
    Route("/ui/login", pages.login_form, methods=["GET"]),
    Route("/ui/login", pages.login, methods=["POST"]),
    Route("/ui/logout", pages.logout, methods=["POST"]),
    Route("/ui/sessions", pages.signed_in_page(pages.sessions)),
    Route("/ui/sessions/{secure_id}", pages.signed_in_page(pages.session)),
    Route("/ui/sessions/{secure_id}/events", pages.session_events),
    Route("/ui/sessions/{secure_id}/assets/{digest}", pages.session_asset),
    Route("/ui/sessions/{secure_id}/live", pages.signed_in_page(pages.session_live)),
    Route("/ui/errors", pages.signed_in_page(pages.error_groups)),
    Route("/ui/errors/{fingerprint}", pages.signed_in_page(pages.error_group)),
    Route("/ui/logs", pages.signed_in_page(pages.logs)),
    Route("/ui/setup", pages.signed_in_page(pages.setup)),
    Route("/ui/status", pages.signed_in_page(pages.status)),
    Mount("/ui/static", StaticFiles(directory=pages.HERE / "static"), name="static"),
]


async def _not_found(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(f"no page {request.url.path}", status_code=404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(f"{request.method} is not allowed here", status_code=405)


def build_ui(
    store: ReadStore,
    followers: Followers,
    body_timeout_seconds: float = 30.0,
    replay_external: str = "auto",
) -> Starlette:
    """The UI on `store`; a form body not received within `body_timeout_seconds` is 408;
    `followers` answers the player's pages of a live recording; `replay_external` is
    FOOTLIGHT_REPLAY_EXTERNAL (whether a replay may load from other sites)."""
    app = Starlette(
        routes=ROUTES,
        exception_handlers={
            404: _not_found,
            405: _not_allowed,
            StoreUnavailable: pages.store_unavailable,
            StoreError: pages.store_refused,
        },
    )
    app.state.store = store
    app.state.body_timeout_seconds = body_timeout_seconds
    app.state.followers = followers
    app.state.replay_external = replay_external
    return app
