"""A recorded site's origin server: real HTTP on loopback, serving the files a test gives it
(and changing them, as a deploy does), and noting every request it gets."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "text/plain"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    stream_bytes: int = 0
    """Send this many bytes (without Content-Length) instead of `body`: a file too big to keep."""


class Origin:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with origin._lock:
                    origin.requests.append(
                        (self.path, {k.lower(): v for k, v in self.headers.items()})
                    )
                route = origin.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_response(404)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                if route.delay:
                    time.sleep(route.delay)
                self.send_response(route.status)
                self.send_header("content-type", route.content_type)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                if route.stream_bytes:
                    self.send_header("connection", "close")
                    self.end_headers()
                    chunk = b"\0" * 65536
                    try:
                        for _ in range(route.stream_bytes // len(chunk)):
                            self.wfile.write(chunk)
                    except OSError:
                        pass  # the fetcher hung up at its cap, as it should
                    self.close_connection = True
                    return
                self.send_header("content-length", str(len(route.body)))
                self.end_headers()
                # The fetcher may hang up (a timeout, a cap): its business, not an error.
                with contextlib.suppress(OSError):
                    self.wfile.write(route.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def serve(
        self, path: str, body: bytes | str = b"", content_type: str = "text/plain", **kw: Any
    ) -> str:
        """Serve `body` at `path`; its absolute URL."""
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = Route(data, content_type, **kw)
        return self.url + path

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for p, _ in self.requests if p.split("?")[0] == path)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def origin_server() -> Iterator[Origin]:
    origin = Origin()
    thread = threading.Thread(target=origin.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield origin
    finally:
        origin.stop()
