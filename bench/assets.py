"""Ingest with asset capture on against off, alternated in one run on one machine.

The SDK's request mix (bench/run's saturation step: wrk over 2,000 sessions) goes to a
footlight whose project 1 keeps no assets, then to one that keeps the assets of the recorded
app's origin (the captured payloads reference `http://localhost:37415/...`: a local server
there answers every path with a small stylesheet or image, and FOOTLIGHT_ASSET_ALLOW_NETWORKS
lets footlight fetch from it), alternately: off on on off ... Each trial reports the
payloads/s at saturation, the server's CPU per 1,000 requests (capture runs in the same
process, so its work during the load is in it), and, for capture on, how long after the load
the capture queue took to empty and what it kept.

    .venv/bin/python bench/assets.py                       # 3 pairs of 12 s
    .venv/bin/python bench/assets.py --smoke               # a moment of each, for CI
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import shutil
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from load import create_sessions, run_wrk
from nodes import (
    ONE_CLIENT_FOR_MANY_BROWSERS,
    fresh_database,
    query_store,
    run_footlight,
    start_footlight,
    store_options,
)
from payloads import compress, write_templates

ORIGIN_PORT = 37415
"""The port of the app the SDK recorded in tests/fixtures (its URLs name it)."""
CSS = b".hero { background: url(bg.png); }\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(2048)


class _Site(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        css = self.path.split("?")[0].endswith(".css")
        body = CSS if css else PNG
        self.send_response(200)
        self.send_header("content-type", "text/css" if css else "image/png")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _with_asset_references(templates: Path) -> None:
    """Give the mix's first push a DOM change that loads a stylesheet and two images from the
    app's origin (the SDK's own recording inlined its one stylesheet and had no image), for
    both modes alike: what a page with assets sends, and what capture on has to fetch."""
    path = templates / "push-1.json"
    body = json.loads(path.read_text())
    data = json.loads(gzip.decompress(base64.b64decode(body["variables"]["data"])))
    site = f"http://localhost:{ORIGIN_PORT}/app"
    added = [
        {
            "type": 2,
            "tagName": "link",
            "attributes": {"rel": "stylesheet", "href": f"{site}/theme.css"},
        },
        {"type": 2, "tagName": "img", "attributes": {"src": f"{site}/logo.png"}},
        {"type": 2, "tagName": "div", "attributes": {"style": f"background: url({site}/hero.png)"}},
    ]
    events = data["events"]["events"]
    events.append(
        {
            "type": 3,
            "data": {
                "source": 0,
                "texts": [],
                "attributes": [],
                "removes": [],
                "adds": [
                    {
                        "parentId": 1,
                        "nextId": None,
                        "node": {**node, "id": 90_000 + i, "childNodes": []},
                    }
                    for i, node in enumerate(added)
                ],
            },
            "timestamp": events[-1]["timestamp"] + 1 if events else 0,
        }
    )
    body["variables"]["data"] = compress(data)
    path.write_text(json.dumps(body))


def _trial(capture: bool, seconds: float, sessions: int, store: str) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="footlight-assets-"))
    templates = work / "requests"
    templates.mkdir()
    write_templates(templates)
    _with_asset_references(templates)
    database = fresh_database() if store == "postgresql" else None
    settings = {
        **ONE_CLIENT_FOR_MANY_BROWSERS,
        "FOOTLIGHT_OTLP_GRPC_PORT": "off",
        "FOOTLIGHT_ASSET_ALLOW_NETWORKS": "127.0.0.0/8,::1",
    }
    node = start_footlight(work / "data", database, settings=settings)
    try:
        if capture:
            run_footlight(
                "project",
                "update",
                "1",
                "--asset-origin",
                f"http://localhost:{ORIGIN_PORT}",
                *store_options(work / "data", database),
            )
        ids = create_sessions(node.url, sessions)
        (templates / "sessions.txt").write_text("\n".join(ids) + "\n")
        before = node.cpu_seconds()
        result = run_wrk(node.url, templates, seconds=seconds, connections=100, threads=2)
        cpu = node.cpu_seconds() - before
        drained_at = time.monotonic()
        deadline = drained_at + 120
        while time.monotonic() < deadline:
            left = query_store(
                work / "data",
                database,
                "SELECT count(*) FROM processing_queue WHERE kind = 'assets'",
            )[0][0]
            if left == 0:
                break
            time.sleep(0.2)
        drain = time.monotonic() - drained_at
        kept = query_store(
            work / "data", database, "SELECT count(*), coalesce(sum(size), 0) FROM assets"
        )[0]
        linked = query_store(
            work / "data", database, "SELECT count(*) FROM session_assets WHERE status = 'stored'"
        )[0][0]
    finally:
        node.stop()
        shutil.rmtree(work, ignore_errors=True)
    return {
        "payloads_per_second": round(result.payloads_per_second, 1),
        "cpu_ms_per_1000_requests": round(cpu * 1e6 / max(result.requests, 1), 1),
        "p99_ms": round(result.p99_ms, 1),
        "capture_queue_drained_s": round(drain, 1),
        "assets_kept": int(kept[0]),
        "asset_bytes": int(kept[1]),
        "session_links": int(linked),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--json", type=Path, help="also write every trial here")
    parser.add_argument("--smoke", action="store_true", help="a moment of each, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.pairs, args.seconds, args.sessions = 1, 1, 50
    try:
        site = ThreadingHTTPServer(("127.0.0.1", ORIGIN_PORT), _Site)
    except OSError as exc:
        raise SystemExit(
            f"bench/assets.py needs port {ORIGIN_PORT} for the app's origin: {exc}"
        ) from None
    threading.Thread(target=site.serve_forever, daemon=True).start()
    trials: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    try:
        for pair in range(args.pairs):
            order = ("off", "on") if pair % 2 == 0 else ("on", "off")
            for mode in order:
                trial = _trial(mode == "on", args.seconds, args.sessions, args.store)
                trials[mode].append(trial)
                print(f"pair {pair + 1}, capture {mode}: {trial}", flush=True)
    finally:
        site.shutdown()
    means = {}
    for mode, rows in trials.items():
        rate = statistics.mean(r["payloads_per_second"] for r in rows)
        cpu = statistics.mean(r["cpu_ms_per_1000_requests"] for r in rows)
        means[mode] = (rate, cpu)
        print(f"capture {mode}: {rate:.0f} payloads/s, CPU {cpu:.0f} ms per 1,000 requests")
    (off_rate, off_cpu), (on_rate, on_cpu) = means["off"], means["on"]
    print(
        f"capture on / off: payloads/s x{on_rate / off_rate:.2f}, CPU per request"
        f" x{on_cpu / off_cpu:.2f}; the origin answered {_Site.hits} requests in all"
    )
    if trials["on"] and not all(t["assets_kept"] > 0 for t in trials["on"]):
        raise SystemExit("bench/assets.py: capture on kept no asset")
    if args.json:
        args.json.write_text(json.dumps(trials, indent=2) + "\n")


if __name__ == "__main__":
    main()
