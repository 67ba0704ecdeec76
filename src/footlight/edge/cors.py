"""CORS for the public ingest routes: any origin may send, and credentialed sends work too.

Highlight answers `Access-Control-Allow-Origin: *`. That is fine for the XHRs of current
SDKs (they send no credentials), but `navigator.sendBeacon`, which highlight.run 6.x/7.x
use for the last push when a page unloads, always sends credentials, and a browser drops a
credentialed response that carries `*`. So the request's own Origin is echoed with
`Access-Control-Allow-Credentials: true`: what Highlight accepted is accepted, and those
last payloads are not lost. Nothing here reads cookies, so this grants no ambient authority.
"""

from __future__ import annotations

import functools

from footlight.edge.asgi import Request

ALLOWED_METHODS = frozenset({"GET", "POST", "HEAD"})
# Chromium caps a cached preflight at 2 hours; one preflight per page load is then enough.
PREFLIGHT_MAX_AGE = "7200"


def is_preflight(request: Request) -> bool:
    return (
        request.method == "OPTIONS" and request.header("access-control-request-method") is not None
    )


def response_headers(request: Request) -> tuple[tuple[bytes, bytes], ...]:
    """Headers for an actual (non-preflight) response, encoded as it carries them
    (`asgi.respond`'s `encoded`).

    Every ingest answer carries them, and a site's pages send one origin: they are encoded
    once per origin, not for every request. A stranger may send any origin, so only the
    latest few are kept."""
    origin = request.header("origin")
    return () if origin is None else _for_origin(origin)


@functools.lru_cache(maxsize=64)
def _for_origin(origin: str) -> tuple[tuple[bytes, bytes], ...]:
    return (
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-allow-credentials", b"true"),
        (b"access-control-expose-headers", b"Retry-After"),
        (b"vary", b"Origin"),
    )


def preflight_headers(request: Request) -> list[tuple[str, str]]:
    """Headers for a 204 preflight answer: the requested method and headers, allowed."""
    vary = ("vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
    origin = request.header("origin")
    method = (request.header("access-control-request-method") or "").upper()
    if origin is None or method not in ALLOWED_METHODS:
        return [vary]
    headers = [
        ("access-control-allow-origin", origin),
        ("access-control-allow-credentials", "true"),
        ("access-control-allow-methods", method),
        ("access-control-max-age", PREFLIGHT_MAX_AGE),
        vary,
    ]
    requested = request.header("access-control-request-headers")
    if requested:
        headers.append(("access-control-allow-headers", requested))
    return headers
