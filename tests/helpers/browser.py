"""Debian's headless Chromium as the end-to-end tests launch it, and the e2e app
(tests/e2e/app, built with esbuild from npm packages pinned by its package-lock.json) served
on an origin of its own."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.helpers.paths import ROOT

APP = ROOT / "tests" / "e2e" / "app"
BUNDLES = ("app.js", "replay.js", "record-fixture.js")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--disable-blink-features=AutomationControlled",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Anything not on loopback (which Chromium never proxies) fails fast instead of leaving
    # the machine.
    "--proxy-server=http://127.0.0.1:9",
]

T = TypeVar("T")


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's headless Chromium, without the automation flag (with it, the highlight.run
    SDK records nothing)."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        ignore_default_args=["--enable-automation"],
    )


@contextmanager
def chromium() -> Iterator[Browser]:
    """A Chromium of its own, with this thread's own sync Playwright."""
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


def with_own_chromium(work: Callable[[Browser], T]) -> T:
    """Runs `work` with a Chromium of its own, on a thread of its own: a sync Playwright
    holds its thread's event loop, and a module's `browser` may already hold this one's
    (a recording for the second backend starts after the first backend's tests opened it)."""

    def run() -> T:
        with chromium() as browser:
            return work(browser)

    with ThreadPoolExecutor(1, thread_name_prefix="playwright") as pool:
        return pool.submit(run).result()


def build_app() -> None:
    """Build the e2e app's bundles unless they are newer than its sources."""
    build = APP / "public" / "build"
    bundles = [build / name for name in BUNDLES]
    sources = [*(APP / "src").glob("*.js"), APP / "package.json", APP / "package-lock.json"]
    newest_source = max(s.stat().st_mtime for s in sources)
    if all(b.exists() and b.stat().st_mtime >= newest_source for b in bundles):
        return
    if not all((APP / "node_modules" / pkg).exists() for pkg in ("highlight.run", "rrweb")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=APP, check=True)
    subprocess.run(["npm", "run", "--silent", "build"], cwd=APP, check=True)


@contextmanager
def serving_app() -> Iterator[str]:
    """The e2e app on its own origin (its URL), served by a plain static file server."""
    build_app()
    handler = functools.partial(_QuietHandler, directory=str(APP / "public"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass
