"""The asset fetcher against real HTTP servers on loopback, over real sockets.

What reaches the network is observed, not mocked: the test server notes every request it
gets, and a process-wide audit hook (`sys.addaudithook`) notes every `socket.connect` and
`socket.getaddrinfo` while a test arms it, so "no connection was attempted" is checked on
the sockets themselves. Addresses that must never be contacted (10.x, 169.254.169.254) are
refused before any connect, so no test needs a network beyond loopback.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest

import footlight
from footlight.processing.fetch import AssetFetcher, Fetched, FetchPolicy, FetchRefused, origin_of

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
CSS = b"body { background: url(img.png); }\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
HUGE = 100 * 1024 * 1024
MB = 1024 * 1024

# -- what the process does on the network ----------------------------------------------------

_recording: list[tuple[str, Any]] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Process-wide and permanent (audit hooks cannot be removed): cheap unless armed.
    if _recording is not None and event in ("socket.connect", "socket.getaddrinfo"):
        host = args[1] if event == "socket.connect" else args[0]
        _recording.append((event, host.decode() if isinstance(host, bytes) else host))


sys.addaudithook(_audit)


class Network:
    def __init__(self, events: list[tuple[str, Any]]) -> None:
        self.events = events

    @property
    def connects(self) -> list[tuple[str, int]]:
        return [tuple(addr[:2]) for event, addr in self.events if event == "socket.connect"]

    @property
    def lookups(self) -> list[str]:
        return [host for event, host in self.events if event == "socket.getaddrinfo"]


@pytest.fixture
def network() -> Iterator[Network]:
    global _recording
    _recording = []
    try:
        yield Network(_recording)
    finally:
        _recording = None


# -- the recorded site's server --------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-body is what several tests do on purpose


class Site:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.sent: dict[str, int] = {}  # body bytes written by each streaming route
        self.in_flight = self.max_in_flight = 0
        self.stopping = threading.Event()
        # Each streaming route's: it has stopped writing (and `sent` has its count).
        self.streamed = {
            r: threading.Event() for r in ("/big-length", "/big-chunked", "/big-close")
        }
        lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with lock:
                    site.requests.append(
                        (self.path, {k.lower(): v for k, v in self.headers.items()})
                    )
                url = urlsplit(self.path)
                route = url.path
                if route == "/inflight":
                    with lock:
                        site.in_flight += 1
                        site.max_in_flight = max(site.max_in_flight, site.in_flight)
                    time.sleep(0.2)
                    with lock:
                        site.in_flight -= 1
                if route in ("/style.css", "/inflight"):
                    self.reply(200, CSS, {"content-type": "text/css; charset=utf-8"})
                elif route == "/img.png":
                    self.reply(200, PNG, {"content-type": "image/png"})
                elif route == "/html":
                    self.reply(200, b"<html></html>", {"content-type": "text/html"})
                elif route == "/untyped":
                    self.reply(200, CSS, {})
                elif route == "/gzip":
                    self.reply(
                        200, b"\x1f\x8b", {"content-type": "text/css", "content-encoding": "gzip"}
                    )
                elif route == "/setcookie":
                    headers = {"content-type": "text/css", "set-cookie": "sid=secret; Path=/"}
                    self.reply(200, CSS, headers)
                elif route == "/redirect":
                    self.reply(302, b"", {"location": parse_qs(url.query)["to"][0]})
                elif route == "/loop":
                    self.reply(302, b"", {"location": "/loop"})
                elif route == "/slow":
                    site.stopping.wait(3.0)
                    self.reply(200, CSS, {"content-type": "text/css"})
                elif route.startswith("/big-"):
                    self.stream(route)
                else:
                    self.reply(404, b"not here", {"content-type": "text/plain"})

            def reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def stream(self, route: str) -> None:
                """100 MB of body: declared by length, chunked, or delimited by the close."""
                self.send_response(200)
                self.send_header("content-type", "image/png")
                if route == "/big-length":
                    self.send_header("content-length", str(HUGE))
                elif route == "/big-chunked":
                    self.send_header("transfer-encoding", "chunked")
                else:
                    self.send_header("connection", "close")
                self.end_headers()
                self.close_connection = True
                chunk, sent = b"\0" * 65536, 0
                framed = b"%x\r\n%b\r\n" % (len(chunk), chunk) if route == "/big-chunked" else chunk
                try:
                    while sent < HUGE and not site.stopping.is_set():
                        self.wfile.write(framed)
                        sent += len(chunk)
                except OSError:
                    pass  # the fetcher hung up at its cap
                finally:
                    with lock:
                        site.sent[route] = sent
                    site.streamed[route].set()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.origin = f"http://127.0.0.1:{self.port}"

    def hits(self, path: str | None = None) -> int:
        return sum(1 for p, _ in self.requests if path is None or urlsplit(p).path == path)


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    thread = threading.Thread(target=s.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield s
    s.stopping.set()
    s.server.shutdown()
    s.server.server_close()
    thread.join()


def policy(*origins: str, networks: Any = LOOPBACK, **kw: Any) -> FetchPolicy:
    return FetchPolicy(origins=frozenset(origins), networks=networks, **kw)


async def fetched(p: FetchPolicy, url: str) -> Fetched:
    async with AssetFetcher(p) as fetcher:
        return await fetcher.fetch(url)


async def refusal(p: FetchPolicy, url: str) -> str:
    async with AssetFetcher(p) as fetcher:
        with pytest.raises(FetchRefused) as caught:
            await fetcher.fetch(url)
    return caught.value.reason


# -- origins ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("HTTP://Shop.Example:80/a.css?x", "http://shop.example"),
        ("https://shop.example:443", "https://shop.example"),
        ("https://shop.example:8443/", "https://shop.example:8443"),
        ("http://user:pw@127.0.0.1:8000/x", "http://127.0.0.1:8000"),
        ("http://[::1]:8000/", "http://[::1]:8000"),
        ("https://bücher.example/", "https://xn--bcher-kva.example"),
        ("ftp://shop.example/", None),
        ("javascript:alert(1)", None),
        ("http:///path", None),
        ("http://shop.example:port/", None),
        ("http://bad host/", None),
    ],
)
def test_origin_of(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin


@pytest.mark.anyio
async def test_origin_not_listed_is_refused_before_any_lookup(site: Site, network: Network) -> None:
    reason = await refusal(policy("http://127.0.0.1:1"), f"{site.origin}/style.css")
    assert reason == f"origin {site.origin} is not allowed"
    assert network.events == []
    assert site.hits() == 0


# -- addresses -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_allowed_loopback_fetches_exact_bytes(site: Site, network: Network) -> None:
    async with AssetFetcher(policy(site.origin)) as fetcher:
        css = await fetcher.fetch(f"{site.origin}/style.css")
        png = await fetcher.fetch(f"{site.origin}/img.png")
    assert css == Fetched(f"{site.origin}/style.css", f"{site.origin}/style.css", "text/css", CSS)
    assert (png.content_type, png.body) == ("image/png", PNG)
    assert set(network.connects) == {("127.0.0.1", site.port)}


@pytest.mark.anyio
async def test_loopback_is_refused_unless_listed(site: Site, network: Network) -> None:
    reason = await refusal(policy(site.origin, networks=()), f"{site.origin}/style.css")
    assert reason == "127.0.0.1 is a loopback address"
    assert network.connects == []
    assert site.hits() == 0


@pytest.mark.anyio
async def test_a_name_is_checked_after_resolution(site: Site, network: Network) -> None:
    origin = f"http://localhost:{site.port}"
    reason = await refusal(policy(origin, networks=()), f"{origin}/style.css")
    assert reason == "127.0.0.1 is a loopback address (localhost)"
    assert "localhost" in network.lookups
    assert network.connects == []
    assert site.hits() == 0
    # Allowed, the connection goes to the checked address: the name is resolved once.
    network.events.clear()
    assert (await fetched(policy(origin), f"{origin}/style.css")).body == CSS
    assert network.connects == [("127.0.0.1", site.port)]
    assert network.lookups.count("localhost") == 1
    assert site.requests[0][1]["host"] == f"localhost:{site.port}"


@pytest.mark.parametrize("networks", [(), (ipaddress.ip_network("0.0.0.0/0"),)])
@pytest.mark.anyio
async def test_cloud_metadata_is_never_contacted(network: Network, networks: Any) -> None:
    url = "http://169.254.169.254/latest/meta-data/"
    reason = await refusal(policy("http://169.254.169.254", networks=networks), url)
    assert reason == "169.254.169.254 is a link-local address (cloud metadata)"
    assert network.connects == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.5/x", "10.0.0.5 is a private address"),
        ("http://[fc00::1]/", "fc00::1 is a private address"),
        ("http://100.64.0.1/", "100.64.0.1 is a shared (carrier-grade NAT) address"),
        ("http://224.0.0.251/", "224.0.0.251 is a multicast address"),
        ("http://0.0.0.0:8000/", "0.0.0.0 is an unspecified address"),
        ("http://240.0.0.1/", "240.0.0.1 is a reserved address"),
        ("http://[::1]/", "::1 is a loopback address"),
        ("http://[fe80::1]/", "fe80::1 is a link-local address"),
        ("http://[::ffff:10.0.0.5]/", "(IPv4 10.0.0.5) is a private address"),
        ("http://[64:ff9b::a9fe:a9fe]/", "(IPv4 169.254.169.254) is a link-local address"),
        # A decimal IPv4 address is a host name to the URL and 127.0.0.1 to the resolver.
        ("http://2130706433/", "127.0.0.1 is a loopback address (2130706433)"),
    ],
)
@pytest.mark.anyio
async def test_non_public_addresses_are_refused(network: Network, url: str, reason: str) -> None:
    origin = origin_of(url)
    assert origin is not None
    assert reason in await refusal(policy(origin, networks=()), url)
    assert network.connects == []


@pytest.mark.anyio
async def test_unreachable_port_is_a_connection_failure(network: Network) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    reason = await refusal(policy(f"http://127.0.0.1:{port}"), f"http://127.0.0.1:{port}/")
    assert reason.startswith("connection failed: "), reason


# -- redirects -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://10.255.255.1/x", "10.255.255.1 is a private address"),
        (
            "http://169.254.169.254/latest/meta-data",
            "169.254.169.254 is a link-local address (cloud metadata)",
        ),
    ],
)
@pytest.mark.anyio
async def test_redirect_to_a_private_address(
    site: Site, network: Network, target: str, reason: str
) -> None:
    origins = (site.origin, origin_of(target) or "")
    got = await refusal(policy(*origins), f"{site.origin}/redirect?to={target}")
    assert got == f"redirect to {target}: {reason}"
    assert set(network.connects) == {("127.0.0.1", site.port)}


@pytest.mark.anyio
async def test_redirect_to_an_origin_not_listed(site: Site) -> None:
    target = f"http://localhost:{site.port}/style.css"
    got = await refusal(policy(site.origin), f"{site.origin}/redirect?to={target}")
    assert got == f"redirect to {target}: origin http://localhost:{site.port} is not allowed"
    assert site.hits("/style.css") == 0


@pytest.mark.anyio
async def test_redirects_within_allowed_origins(site: Site) -> None:
    other = f"http://localhost:{site.port}"
    async with AssetFetcher(policy(site.origin, other)) as fetcher:
        relative = await fetcher.fetch(f"{site.origin}/redirect?to=style.css")
        across = await fetcher.fetch(f"{site.origin}/redirect?to={other}/img.png")
    assert (relative.final_url, relative.body) == (f"{site.origin}/style.css", CSS)
    assert (across.final_url, across.body) == (f"{other}/img.png", PNG)


@pytest.mark.anyio
async def test_redirect_loop_is_cut(site: Site) -> None:
    assert await refusal(policy(site.origin), f"{site.origin}/loop") == "more than 5 redirects"
    assert site.hits("/loop") == 6
    no_hops = policy(site.origin, max_redirects=0)
    assert await refusal(no_hops, f"{site.origin}/redirect?to=/style.css") == (
        "more than 0 redirects"
    )


# -- size, time, type ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_declared_length_over_the_cap_is_refused_unread(site: Site) -> None:
    reason = await refusal(policy(site.origin), f"{site.origin}/big-length")
    assert reason == "larger than 10 MiB (10,485,760 bytes)"
    # Refused on its Content-Length: the server's next writes found the connection closed.
    assert await anyio.to_thread.run_sync(site.streamed["/big-length"].wait, 5)
    assert site.sent["/big-length"] < 10 * MB


@pytest.mark.parametrize("route", ["/big-chunked", "/big-close"])
@pytest.mark.anyio
async def test_stream_is_cut_at_the_cap(site: Site, route: str) -> None:
    tracemalloc.start()
    try:
        reason = await refusal(policy(site.origin, max_bytes=MB), site.origin + route)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert reason == "larger than 1 MiB (1,048,576 bytes)"
    assert peak < 4 * MB, f"{peak:,} bytes held at the peak"
    # The server notices the hang-up on its next write.
    assert await anyio.to_thread.run_sync(site.streamed[route].wait, 5)
    assert site.sent[route] < HUGE // 4


@pytest.mark.anyio
async def test_slow_server_times_out(site: Site) -> None:
    # The reason is given only by the deadline's own exception: the server would answer
    # after 3 s, and the fetch would then have succeeded.
    reason = await refusal(policy(site.origin, timeout_seconds=0.5), f"{site.origin}/slow")
    assert reason == "timed out after 0.5 s"


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        ("/html", "content type text/html is not allowed"),
        ("/untyped", "no content type"),
        ("/gzip", "content encoding gzip was not asked for"),
        ("/404", "HTTP 404"),
    ],
)
@pytest.mark.anyio
async def test_unwanted_answers_are_refused(site: Site, route: str, reason: str) -> None:
    assert await refusal(policy(site.origin), site.origin + route) == reason


@pytest.mark.anyio
async def test_content_type_patterns(site: Site) -> None:
    got = await fetched(policy(site.origin, content_types=("text/*",)), f"{site.origin}/html")
    assert got.content_type == "text/html"


# -- what is sent ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_no_cookies_or_credentials_and_a_clear_user_agent(site: Site) -> None:
    async with AssetFetcher(policy(site.origin)) as fetcher:
        await fetcher.fetch(f"{site.origin}/setcookie")
        await fetcher.fetch(f"http://user:secret@127.0.0.1:{site.port}/style.css")
    assert [path for path, _ in site.requests] == ["/setcookie", "/style.css"]
    agent = f"footlight-asset-fetcher/{footlight.__version__} (+session replay assets)"
    for _, headers in site.requests:
        assert headers == {
            "host": f"127.0.0.1:{site.port}",
            "user-agent": agent,
            "accept": "*/*",
            "accept-encoding": "identity",
        }


@pytest.mark.anyio
async def test_concurrency_is_bounded(site: Site) -> None:
    async with AssetFetcher(policy(site.origin, concurrency=2)) as fetcher:
        results: list[Fetched] = []

        async def one() -> None:
            results.append(await fetcher.fetch(f"{site.origin}/inflight"))

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(one)
    assert len(results) == 8
    assert site.max_in_flight == 2


# -- TLS -------------------------------------------------------------------------------------


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for "localhost" and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=localhost"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(cert)),
            *("-addext", "subjectAltName=DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.anyio
async def test_tls_verifies_and_names_the_host_while_connecting_to_its_address(
    certificate: tuple[Path, Path], network: Network
) -> None:
    """The connection goes to 127.0.0.1, yet SNI says "localhost" and the (self-signed)
    certificate is verified: refused, as an unknown issuer must be."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    names: list[str | None] = []

    def named(sock: Any, name: str | None, ctx: ssl.SSLContext) -> None:
        names.append(name)

    context.sni_callback = named
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)
        port = listener.getsockname()[1]

        def serve() -> None:
            try:
                conn, _ = listener.accept()
                with conn, context.wrap_socket(conn, server_side=True):
                    pass
            except OSError:  # ssl.SSLError too: the client refuses the certificate
                pass

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        origin = f"https://localhost:{port}"
        reason = await refusal(policy(origin), f"{origin}/style.css")
        thread.join()
    assert reason.startswith("connection failed: "), reason
    assert "CERTIFICATE_VERIFY_FAILED" in reason, reason
    assert names == ["localhost"]
    assert network.connects == [("127.0.0.1", port)]
