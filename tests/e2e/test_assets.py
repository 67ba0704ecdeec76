"""Replays that keep their look, in Debian's headless Chromium: the real highlight.run SDK
records a page whose stylesheet, web font, CSS background and image come from its own origin
(a server on loopback, allowed explicitly); the site then deploys a new stylesheet and goes
away. The session watched in footlight's UI still has the recorded colour, font and
background, and the origin sees no request from the viewer.
"""

from __future__ import annotations

import re
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.helpers.browser import APP, build_app
from tests.helpers.cli import create_token, footlight_ok
from tests.helpers.origin import Origin, origin_server
from tests.helpers.sdk import BackendTraffic, wait_until
from tests.helpers.servers import Server, running
from tests.helpers.store import db_rows
from tests.helpers.waiting import read_api_until

pytestmark = pytest.mark.e2e

RECORDED_CSS = """
@font-face { font-family: ShopSans; src: url(/fonts/shop-sans.woff2) format("woff2"); }
#hero { color: rgb(12, 34, 56); font-family: ShopSans, serif;
        background: url(/img/hero-bg.png) repeat; min-height: 40px; }
"""
DEPLOYED_CSS = "#hero { color: rgb(200, 0, 0); font-family: monospace; background: none; }"
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>shop</title>
<link rel="stylesheet" href="/css/shop.css"></head>
<body data-page="shop">
  <h1 id="hero">Spring sale</h1>
  <img id="logo" src="/img/logo.png" alt="logo" width="4" height="4">
  <p id="status">ready</p> <a id="next" href="#">next</a>
  <!-- What the e2e app's script binds (build/app.js records the page with the real SDK). -->
  <div hidden>{buttons}</div>
  <script src="/build/app.js"></script>
</body></html>
""".replace(
    "{buttons}",
    "".join(
        f'<button id="{name}"></button>'
        for name in (
            "log",
            "console-error",
            "throw",
            "consume",
            "identify",
            "track",
            "feedback",
            "fetch",
            "checkout",
        )
    ),
)


def png(red: int, green: int, blue: int) -> bytes:
    """A 4x4 PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\0" + bytes((red, green, blue)) * 4 for _ in range(4))
    header = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def shop(backend: str) -> Iterator[Origin]:
    """The recorded site, one per backend (its test deploys to it and stops it)."""
    build_app()
    with origin_server() as site:
        site.serve("/shop.html", PAGE, "text/html")
        site.serve(
            "/build/app.js", (APP / "public" / "build" / "app.js").read_bytes(), "text/javascript"
        )
        site.serve("/css/shop.css", RECORDED_CSS, "text/css")
        site.serve("/fonts/shop-sans.woff2", b"wOF2" + bytes(64), "font/woff2")
        site.serve("/img/hero-bg.png", png(0, 128, 0), "image/png")
        site.serve("/img/logo.png", png(0, 0, 255), "image/png")
        yield site


@pytest.fixture(scope="module")
def footlight(
    tmp_path_factory: pytest.TempPathFactory, backend: str, shop: Origin
) -> Iterator[Server]:
    env = {
        "FOOTLIGHT_ASSET_ALLOW_NETWORKS": "127.0.0.0/8",
        "FOOTLIGHT_ASSET_DELAY_SECONDS": "0.1",
    }
    with running(tmp_path_factory, "e2e-assets", backend, env) as server:
        footlight_ok(server, "project", "update", "1", "--asset-origin", shop.url)
        yield server


def hero_style(page: Page) -> dict[str, str]:
    return dict(
        page.evaluate(
            """() => {
              const doc = document.querySelector('#player iframe').contentDocument;
              const hero = doc.getElementById('hero');
              const style = doc.defaultView.getComputedStyle(hero);
              const logo = doc.getElementById('logo');
              return {color: style.color, font: style.fontFamily, background: style.backgroundImage,
                      logo: logo.currentSrc || logo.src, logoWidth: String(logo.naturalWidth)};
            }"""
        )
    )


def test_a_replay_keeps_its_look_after_a_deploy_and_offline(
    browser: Browser, footlight: Server, shop: Origin, tmp_path: Path
) -> None:
    app = browser.new_context()
    try:
        traffic = BackendTraffic(footlight.url)
        traffic.watch(app)
        recorded = app.new_page()
        recorded.goto(f"{shop.url}/shop.html?project=1jdkoe52&backend={footlight.url}")
        wait_until(recorded, lambda: traffic.answered("PushSessionEvents") >= 1, "the first push")
        (init,) = traffic.graphql("initializeSession")
        secure_id = str(init.variables()["session_secure_id"])
        assert (
            recorded.evaluate("getComputedStyle(document.getElementById('hero')).color")
            == "rgb(12, 34, 56)"
        )
    finally:
        app.close()

    report = read_api_until(
        footlight, f"/api/v1/sessions/{secure_id}/assets", lambda r: r["stored"] >= 3
    )
    kept = db_rows(
        footlight.data_dir,
        "SELECT sa.url, sa.status, sa.reason FROM session_assets sa JOIN sessions s"
        " ON s.id = sa.session_id WHERE s.secure_id = ?",
        [secure_id],
    )
    # The stylesheet itself is not among them: the SDK recorded its text (rrweb inlines a
    # readable stylesheet), which the replay uses; its font and background are, with the image.
    assert sorted(url.rsplit("/", 2)[-2:][-1] for url, *_ in kept) == [
        "hero-bg.png",
        "logo.png",
        "shop-sans.woff2",
    ], kept
    assert report["stored"] == 3, kept

    # The site deploys a new stylesheet: what the viewer sees must not change with it.
    shop.serve("/css/shop.css", DEPLOYED_CSS, "text/css")
    before_viewing = len(shop.requests)
    viewer = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = viewer.new_page()
        page.goto(f"{footlight.url}/ui/login")
        page.fill("input[name=token]", create_token(footlight, name="viewer"))
        page.click("button[type=submit]")
        expect(page).to_have_url(re.compile(r"/ui/sessions$"))

        def watch() -> dict[str, str]:
            page.goto(f"{footlight.url}/ui/sessions/{secure_id}")
            page.wait_for_selector("body[data-player=ready]", timeout=30_000)
            deadline = time.monotonic() + 15
            while True:
                style = hero_style(page)
                if style["logoWidth"] == "4" or time.monotonic() > deadline:
                    return style
                page.wait_for_timeout(100)

        style = watch()
        assert style["color"] == "rgb(12, 34, 56)", style
        assert style["font"].startswith("ShopSans"), style
        local = f"{footlight.url}/ui/sessions/{secure_id}/assets/"
        assert re.fullmatch(
            r'url\("' + re.escape(local) + r'[0-9a-f]{64}"\)', style["background"]
        ), style
        # The image: from footlight, or from the copy the SDK inlined (rrweb's rr_dataURL).
        assert style["logo"].startswith((local, "data:image/")), style
        assert style["logoWidth"] == "4", style  # the kept image loaded
        assert len(shop.requests) == before_viewing, shop.requests[before_viewing:]

        # The site is gone: the replay looks the same.
        shop.stop()
        assert watch() == style
    finally:
        viewer.close()

    # One file, opened without a network: the export carries the player and the assets.
    exported = tmp_path / "session.html"
    footlight_ok(footlight, "export", secure_id, "--html", "-o", str(exported))
    offline = browser.new_context(offline=True, viewport={"width": 1400, "height": 900})
    try:
        page = offline.new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(exported.as_uri())
        deadline = time.monotonic() + 30
        while not page.evaluate(
            "() => Boolean(document.querySelector('#player iframe')"
            "?.contentDocument?.getElementById('hero'))"
        ):
            assert time.monotonic() < deadline, "the exported replay never showed the page"
            page.wait_for_timeout(100)
        page.wait_for_timeout(500)
        exported_style = hero_style(page)
        assert exported_style["color"] == "rgb(12, 34, 56)", exported_style
        assert exported_style["font"].startswith("ShopSans"), exported_style
        background = exported_style["background"]
        assert background.startswith('url("data:image/png;base64,'), exported_style
        assert exported_style["logoWidth"] == "4", exported_style
        assert all(url.startswith(("file:", "data:", "about:", "blob:")) for url in requested), (
            requested
        )
    finally:
        offline.close()
