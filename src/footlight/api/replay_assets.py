"""Replaying from footlight: a session's events with their asset URLs pointing at the copies
asset capture kept (`footlight.processing.assets`), and those copies served.

`?assets=local` on the events routes rewrites, in every event, each URL the session stored an
asset for to `<prefix>/<sha-256 hex>` under the session (`/api/v1/sessions/{id}/assets/` for
the API, `/ui/sessions/{id}/assets/` for the player, which signs in by cookie). Rewriting means
decoding each payload's events, so it is done only when the session stored an asset; without
one the events are streamed untouched, as without the parameter.

An asset is served only through a session that links it (a digest alone opens nothing), with
its stored content type, `nosniff`, and a policy that lets it run nothing (an SVG opened
directly stays an image). A stylesheet's own `url()`s and `@import`s are rewritten as it is
served, to the sibling addresses of the assets they name, resolved against where the
stylesheet was fetched from; their digests are the addresses, so answers may be cached.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import msgspec
from starlette.responses import Response

from footlight.api.events import events_json, inflate_stored
from footlight.core.asset_refs import rewrite_events, rewrite_stylesheet
from footlight.core.rrweb import payload_events
from footlight.ingest.offload import run_sized
from footlight.store.base import ReadStore, SessionView

Rewrite = Callable[[bytes], bytes]
"""One stored payload's body -> its events, comma-joined JSON (as `events_json`)."""

_DIGEST = re.compile(r"[0-9a-f]{64}")
ASSET_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": (
        "default-src 'none'; img-src 'self' data:; font-src 'self' data:;"
        " style-src 'self' 'unsafe-inline'; sandbox"
    ),
    # Private: it was served on a credential. Its address is its content, so it never changes.
    "cache-control": "private, max-age=31536000, immutable",
    "cross-origin-resource-policy": "same-origin",
}


_encode = msgspec.json.Encoder().encode


async def events_reader(
    store: ReadStore, view: SessionView, query: Mapping[str, str], prefix: str
) -> Rewrite:
    """How the events routes read each stored payload: as it is (`events_json`), or, asked
    `assets=local` of a session that kept assets, with their URLs under `prefix`."""
    if query.get("assets") != "local":
        return events_json
    return await _local_rewrite(store, view, prefix) or events_json


async def _local_rewrite(store: ReadStore, view: SessionView, prefix: str) -> Rewrite | None:
    stored = await store.session_asset_map(view.id)
    if not stored:
        return None
    local = {url: f"{prefix}/{digest.hex()}" for url, (digest, _) in stored.items()}

    def rewrite(body: bytes) -> bytes:
        events = payload_events(inflate_stored(body))
        rewrite_events(events, local.get)
        return b",".join(_encode(e) for e in events)

    return rewrite


async def serve_asset(store: ReadStore, view: SessionView, digest_hex: str) -> Response | None:
    """The asset the session links under this digest, or None (404 to the caller)."""
    if not _DIGEST.fullmatch(digest_hex):
        return None
    found = await store.session_asset(view.id, bytes.fromhex(digest_hex))
    if found is None:
        return None
    asset, body = found
    content_type = asset.content_type or "application/octet-stream"
    if content_type == "text/css":
        stored = await store.session_asset_map(view.id)
        siblings = {url: digest.hex() for url, (digest, _) in stored.items()}
        css = await run_sized(
            len(body),
            False,
            rewrite_stylesheet,
            body.decode("utf-8", "replace"),
            asset.final_url or asset.url,
            siblings.get,
        )
        body = css.encode()
        content_type = "text/css; charset=utf-8"
    return Response(body, media_type=content_type, headers=ASSET_HEADERS)
