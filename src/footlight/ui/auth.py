"""Signing in to the UI with an API token, and the cookie that keeps the sign-in.

The login form takes the same token the read API takes; the UI never stores it. A sign-in
is a fresh random cookie value, of which only the SHA-256 is kept (`ui_sessions`), pointing
at the token it was opened with: the UI sees exactly what that token may read, and revoking
the token (`footlight token revoke`) ends every sign-in it opened.

The cookie is HttpOnly (no script reads it), SameSite=Strict (no other site can make the
browser send it, which is also what protects the two POST forms, login and logout, from
cross-site requests) and scoped to /ui. It is Secure whenever the browser would still send
it back: over HTTPS (directly or behind a proxy that sets X-Forwarded-Proto) and on
localhost, which browsers treat as secure. Served over plain HTTP to another host, it cannot
be Secure without breaking sign-in, so the login page says the token is crossing the
network in the clear.
"""

from __future__ import annotations

import hashlib
import secrets

from starlette.requests import Request
from starlette.responses import Response

from footlight.api.auth import hash_token
from footlight.core.clock import now_ms
from footlight.store.base import ApiToken, ReadStore

COOKIE = "footlight_ui"
LIFETIME_SECONDS = 7 * 24 * 3600
_LOOPBACK = {"localhost", "127.0.0.1", "[::1]", "::1"}


def is_private_transport(request: Request) -> bool:
    """Whether the browser reaches us over HTTPS or on its own machine."""
    return request.url.scheme == "https" or (request.url.hostname or "") in _LOOPBACK


def _cookie_hash(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


async def sign_in(store: ReadStore, request: Request, token: str, response: Response) -> bool:
    """Open a sign-in for `token` and set its cookie on `response`; False if the token is
    unknown or revoked."""
    found = await store.token_by_hash(hash_token(token.strip()))
    if found is None:
        return False
    value = secrets.token_urlsafe(32)
    now = now_ms()
    await store.add_ui_session(_cookie_hash(value), found.id, now, now + LIFETIME_SECONDS * 1000)
    response.set_cookie(
        COOKIE,
        value,
        max_age=LIFETIME_SECONDS,
        path="/ui",
        secure=is_private_transport(request),
        httponly=True,
        samesite="strict",
    )
    return True


async def signed_in(store: ReadStore, request: Request) -> ApiToken | None:
    """The token the request's cookie stands for, if it is a live sign-in."""
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    return await store.ui_session_token(_cookie_hash(value), now_ms())


async def sign_out(store: ReadStore, request: Request, response: Response) -> None:
    value = request.cookies.get(COOKIE)
    if value:
        await store.delete_ui_session(_cookie_hash(value))
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
