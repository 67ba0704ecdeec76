"""The HTTP stack's own cost: uvicorn with httptools and uvloop, as footlight runs it (less
its connection guard, `edge.http_protocol`), answering the SDK's request mix with a fixed
body and doing nothing else.

footlight's CPU per request at saturation is its HTTP server's plus its own work (decoding,
checking and durably storing a push, processing it live). This runs the first alone, under
bench/run's saturation load (wrk with the SDK's mix over 2,000 sessions), so that a profile
of footlight can be read against it: what uvicorn with httptools and uvloop costs a request
on this machine, and so what footlight's own code costs.

    .venv/bin/python bench/http_floor.py            # 12 s under wrk, 100 connections
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from load import run_wrk
from nodes import free_port, tree_cpu_seconds
from payloads import write_templates

_ANSWER = b'{"data":{"pushPayloadCompressed":null}}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body, answers 200 with a small JSON body."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": _ANSWER})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--connections", type=int, default=100)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "--app-dir", str(Path(__file__).parent)),
            *("http_floor:app", "--port", str(port), "--loop", "uvloop", "--http", "httptools"),
            *("--log-level", "warning", "--no-access-log"),
        ]
    )
    work = Path(tempfile.mkdtemp(prefix="footlight-http-floor-"))
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.post(url, json={})
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("uvicorn did not start") from None
                time.sleep(0.05)
        templates = work / "requests"
        templates.mkdir()
        write_templates(templates)
        (templates / "sessions.txt").write_text("".join(f"s{n}\n" for n in range(2000)))
        before = tree_cpu_seconds(server.pid)
        result = run_wrk(
            url, templates, seconds=args.seconds, connections=args.connections, threads=2
        )
        cpu = tree_cpu_seconds(server.pid) - before
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"uvicorn alone: {result.requests / result.seconds:,.0f} requests/s,"
        f" {cpu * 1e6 / max(result.requests, 1):.1f} ms of CPU per 1,000 requests"
    )


if __name__ == "__main__":
    main()
