"""A session as one HTML file that replays offline (`footlight export --html`).

The file holds the rrweb player (script and stylesheet, inline), the session's events, and
the assets asset capture kept for it as `data:` URLs in place of the recorded ones: a
stylesheet's own `url()`s and `@import`s become `data:` URLs too, a few levels deep. Its
Content-Security-Policy lets it load nothing from anywhere, so opening it contacts nobody;
what was not kept shows as it would on a site that is gone.

Events are written payload by payload, as the JSON export is; the assets are held in memory
while writing (at most FOOTLIGHT_ASSET_MAX_SESSION_BYTES of them, a third more as base64).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import msgspec

from footlight.api.events import inflate_stored
from footlight.core.asset_refs import rewrite_events, rewrite_stylesheet
from footlight.core.rrweb import payload_events
from footlight.store.base import ReadStore, SessionView

_VENDOR = Path(__file__).parent / "static" / "vendor"
_STYLESHEET_DEPTH = 3
_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline' data:;"
    " img-src data: blob:; font-src data:; media-src data: blob:"
)


_encode = msgspec.json.Encoder().encode


def _inline(data: bytes) -> bytes:
    """JSON safe inside <script>: `<` is escaped (as JSON allows), so no `</script>` or
    `<!--` in a recorded string can end or confuse the element."""
    return data.replace(b"<", b"\\u003c")


def player_installed() -> bool:
    return (_VENDOR / "rrweb-player.js").is_file()


def player_files() -> tuple[bytes, bytes]:
    """The player's script and stylesheet, as the UI serves them (scripts/build-ui)."""
    js = (_VENDOR / "rrweb-player.js").read_bytes()
    css = (_VENDOR / "rrweb-player.css").read_bytes()
    # Nothing to fetch offline: no source map; no early end of the element.
    js = b"\n".join(
        line for line in js.split(b"\n") if not line.startswith(b"//# sourceMappingURL")
    )
    return js.replace(b"</script", b"<\\/script"), css.replace(b"</style", b"<\\/style")


async def asset_data_urls(store: ReadStore, view: SessionView) -> dict[str, str]:
    """URL -> `data:` URL of every asset the session kept (stylesheets with their own URLs
    turned into `data:` URLs as well)."""
    stored = await store.session_asset_map(view.id)
    plain: dict[str, str] = {}
    sheets: dict[str, tuple[str, str]] = {}  # url -> (css text, where it came from)
    for url, (digest, content_type) in stored.items():
        found = await store.session_asset(view.id, digest)
        if found is None:
            continue  # deleted meanwhile
        asset, body = found
        if content_type == "text/css":
            sheets[url] = (body.decode("utf-8", "replace"), asset.final_url or url)
        else:
            plain[url] = _data_url(content_type, body)
    done: dict[str, str] = {}

    def sheet(url: str, depth: int) -> str | None:
        if url in done:
            return done[url]
        if url not in sheets or depth > _STYLESHEET_DEPTH:
            return plain.get(url)
        css, base = sheets[url]
        inner: Callable[[str], str | None] = lambda u: sheet(u, depth + 1)  # noqa: E731
        done[url] = _data_url("text/css", rewrite_stylesheet(css, base, inner).encode())
        return done[url]

    for url in sheets:
        sheet(url, 0)
    return {**plain, **done}


def _data_url(content_type: str, body: bytes) -> str:
    return f"data:{content_type};base64,{base64.b64encode(body).decode()}"


async def write_standalone(
    store: ReadStore,
    view: SessionView,
    target: BinaryIO,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write the page; the bytes written. `progress(payloads, bytes)` after each payload."""
    js, css = player_files()
    local = await asset_data_urls(store, view)
    title = f"footlight session {view.secure_id}".encode()
    written = 0

    def write(data: bytes) -> None:
        nonlocal written
        target.write(data)
        written += len(data)

    write(
        b'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        b'<meta http-equiv="Content-Security-Policy" content="' + _CSP.encode() + b'">'
        b"<title>" + title + b"</title><style>" + css + b"body{margin:1rem;font:14px sans-serif}"
        b'</style></head><body><div id="player"></div>\n<script>' + js + b"</script>\n"
        b'<script id="events" type="application/json">['
    )
    first, payloads = True, 0
    async for body in store.payload_bodies(view.secure_id):
        events = payload_events(inflate_stored(body))
        if local:
            rewrite_events(events, local.get)
        for event in events:
            write((b"" if first else b",") + _inline(_encode(event)))
            first = False
        payloads += 1
        if progress is not None:
            progress(payloads, written)
    write(
        b"]</script>\n<script>"
        b'const events = JSON.parse(document.getElementById("events").textContent);'
        b"const m = window.rrwebPlayer; const Player = m && (m.Player || m.default);"
        b"const root = document.getElementById('player');"
        b"const width = Math.max(320, Math.min(1200, window.innerWidth - 40));"
        b"window.footlightPlayer = new Player({target: root, props: {events, width,"
        b" height: Math.round(width * 0.6), autoPlay: false, skipInactive: true}});"
        b"</script></body></html>\n"
    )
    return written
