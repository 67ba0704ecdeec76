"""Fetching a recorded page's assets (stylesheets, fonts, images) without becoming an SSRF proxy.

The threat: the URLs come from strangers' payloads, and the fetch runs inside the operator's
network, often next to a cloud metadata endpoint (169.254.169.254), databases and admin
panels that trust whatever calls from inside. A hostile recording could name
`http://10.0.0.5/admin`, a hostname that resolves to 127.0.0.1, a public page that redirects
inward, a name whose DNS answer changes between our check and our connect (rebinding), an
endless or huge body, a server that never answers, or an HTML page to be stored and served
back from footlight's origin. A fetch must reach only what the project and operator chose.

The defences, each in one place:

- Origins: only http and https, and the origin of the URL and of every redirect target must
  be one the project lists (`FetchPolicy.origins`); anything else is refused before any DNS
  query or connection. Redirects are followed here, hop by hop, not by a client library.
- Addresses: `_CheckedBackend` is the only way httpcore connects. It resolves the host
  itself, refuses unless EVERY address is public (or inside an operator-listed network),
  then connects to a checked IP address, never the name, so a second DNS answer cannot be
  swapped in. IP literals and redirect hops go through the same check. TLS still verifies
  and sends SNI for the URL's hostname: httpcore's `AsyncHTTPConnection._connect` passes
  `server_hostname=sni_hostname or origin.host` to `start_tls`, apart from `connect_tcp`'s
  host. 169.254.169.254 is refused even inside an operator's networks.
- Ambient authority: httpcore keeps no cookie jar, reads no proxy environment variables and
  sends only the headers given here; no Cookie, Authorization or Referer, and userinfo in a
  URL is dropped. The User-Agent names footlight, so a site's operator can tell who calls.
- Cost: one deadline for the whole fetch (redirects, DNS, connect, body), a size cap checked
  on Content-Length and again while streaming (never more than the cap plus one read is
  held), a content-type allow-list, and at most `concurrency` fetches in flight.

Every refusal is a `FetchRefused` whose `reason` says precisely why, for the asset's row.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, Self
from urllib.parse import quote, urljoin, urlsplit

import anyio
import httpcore

from footlight import __version__
from footlight.errors import FootlightError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_CONTENT_TYPES = (
    "text/css", "image/*", "font/*",
    # Font types that predate font/* and are still served by many hosts.
    "application/font-woff", "application/font-woff2", "application/x-font-woff",
    "application/font-sfnt", "application/x-font-ttf", "application/x-font-otf",
    "application/x-font-opentype", "application/vnd.ms-fontobject",
)  # fmt: skip
_DEFAULT_PORTS = {"http": 80, "https": 443}
# What a fetch can fail with on the network (resolution, TLS, a broken or garbled answer).
_FAILURES = (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, OSError)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_METADATA = ipaddress.IPv4Address("169.254.169.254")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT; Python calls it neither
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # reaches the embedded IPv4 address via NAT64
# Characters left as they are in a request target: RFC 3986's reserved set and "%" (already
# escaped octets); anything else (spaces, non-ASCII) is percent-encoded as UTF-8.
_TARGET_SAFE = "!#$%&'()*+,/:;=?@[]~"


@dataclass(frozen=True)
class FetchPolicy:
    origins: frozenset[str]
    """Allowed origins as `origin_of` writes them: "scheme://host[:port]"."""
    networks: tuple[Network, ...] = ()
    """Addresses allowed although not public (an operator's own site on a private network)."""
    max_bytes: int = 10 * 1024 * 1024
    timeout_seconds: float = 10.0
    """The whole fetch: every redirect, resolution, connection and the body."""
    content_types: tuple[str, ...] = DEFAULT_CONTENT_TYPES
    max_redirects: int = 5
    concurrency: int = 4
    user_agent: str = f"footlight-asset-fetcher/{__version__} (+session replay assets)"


@dataclass(frozen=True)
class Fetched:
    url: str
    final_url: str
    """After redirects: what relative URLs inside a stylesheet resolve against."""
    content_type: str
    """The media type, lower case, without parameters."""
    body: bytes


class FetchRefused(FootlightError):
    """A fetch refused by policy or failed on the network; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unreachable(FetchRefused):
    """The origin did not answer in time, or the connection failed: the origin's state, not
    this URL's (asset capture counts these against the origin)."""


class _Blocked(FetchRefused):
    """A refusal of where a hop goes (origin or address): named with the hop if redirected."""


class _Target(NamedTuple):
    origin: str
    netloc: str  # the Host header: "host[:port]", an IPv6 address in brackets
    url: httpcore.URL


def _cut(text: str, limit: int = 200) -> str:
    # Reasons are stored and shown; a stranger's 8 KB URL is not worth keeping whole.
    return text if len(text) <= limit else f"{text[:limit]}..."


def _split(url: str) -> _Target | None:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
        host = parts.hostname or ""
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not host:
            return None
        try:
            host = ipaddress.ip_address(host).compressed
            netloc = f"[{host}]" if ":" in host else host
        except ValueError:
            # One spelling per name, so "Bücher.example" and "xn--bcher-kva.example" compare
            # equal against the policy's origins.
            netloc = host = host.encode("idna").decode("ascii")
            if not all(c.isalnum() or c in "-._" for c in host):
                return None
    except (ValueError, UnicodeError):
        return None
    port = _DEFAULT_PORTS[scheme] if port is None else port
    netloc += "" if port == _DEFAULT_PORTS[scheme] else f":{port}"
    target = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""), _TARGET_SAFE)
    return _Target(
        f"{scheme}://{netloc}",
        netloc,
        httpcore.URL(scheme=scheme, host=host, port=port, target=target),
    )


def origin_of(url: str) -> str | None:
    """The origin of an http(s) URL as the policy compares them: lower case, IDNA-encoded,
    default port omitted ("https://shop.example", "http://127.0.0.1:8000"); None otherwise."""
    target = _split(url)
    return None if target is None else target.origin


def _refusal(address: IPAddress, networks: Iterable[Network]) -> str | None:
    """Why `address` may not be connected to, or None if it may."""
    ip: IPAddress = address
    if isinstance(address, ipaddress.IPv6Address):
        # The IPv4 address a v6 one stands for is where the packets go: check that one.
        if address.ipv4_mapped is not None:
            ip = address.ipv4_mapped
        elif address in _NAT64:
            ip = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    label = str(address) if ip is address else f"{address} (IPv4 {ip})"
    if ip == _METADATA:  # cloud credentials: no operator means to allow these
        return f"{label} is a link-local address (cloud metadata)"
    if any(ip in net or address in net for net in networks):
        return None
    for kind, test in (
        ("an unspecified", ip.is_unspecified),
        ("a loopback", ip.is_loopback),
        ("a link-local", ip.is_link_local),
        ("a multicast", ip.is_multicast),  # Python counts 224.0.0.0/4 as global
        ("a shared (carrier-grade NAT)", ip in _SHARED),
        ("a reserved", ip.is_reserved),  # before private: Python counts 240.0.0.0/4 as both
        ("a private", ip.is_private),
        ("a non-public", not ip.is_global),
    ):
        if test:
            return f"{label} is {kind} address"
    return None


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's only way out: resolve, check every address, connect to a checked one."""

    def __init__(self, networks: tuple[Network, ...]) -> None:
        self._networks = networks
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        # All of them, not only the one we would use: a name answering with a public and a
        # private address is hostile. IPv4 first, so the reason does not depend on the order
        # the resolver happened to answer in.
        for address in sorted(addresses, key=lambda a: a.version):
            reason = _refusal(address, self._networks)
            if reason is not None:
                raise _Blocked(reason if host == str(address) else f"{reason} ({host})")
        error = httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            try:
                # The checked address, not the name: nothing is resolved again after here.
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                error = exc
        raise error

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _header(response: httpcore.Response, name: bytes) -> str | None:
    for key, value in response.headers:
        if key.lower() == name:
            # UTF-8, as browsers read a Location; a garbled one is only a failed URL.
            return value.decode("utf-8", "replace").strip()
    return None


def _size(n: int) -> str:
    mb = f"{n / 1024 / 1024:.2f}".rstrip("0").rstrip(".")
    return f"{mb} MiB ({n:,} bytes)"


class AssetFetcher:
    """Fetches under one `FetchPolicy`; close it (or use `async with`) to close connections."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self._slots = anyio.Semaphore(policy.concurrency)
        self._pool = httpcore.AsyncConnectionPool(
            max_connections=policy.concurrency,
            keepalive_expiry=30.0,
            network_backend=_CheckedBackend(policy.networks),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def fetch(self, url: str) -> Fetched:
        """The asset at `url`, or `FetchRefused` saying why not."""
        # The deadline starts once a slot is ours: waiting behind other fetches costs this
        # one none of its time.
        async with self._slots:
            seconds = self.policy.timeout_seconds
            try:
                with anyio.fail_after(seconds):
                    return await self._follow(url, anyio.current_time() + seconds)
            except (TimeoutError, httpcore.TimeoutException):
                raise Unreachable(f"timed out after {seconds:g} s") from None
            except _FAILURES as exc:
                detail = _cut(str(exc) or type(exc).__name__)
                raise Unreachable(f"connection failed: {detail}") from None

    async def _follow(self, url: str, deadline: float) -> Fetched:
        policy, current = self.policy, url
        for hop in range(policy.max_redirects + 1):
            try:
                target = _split(current)
                if target is None:
                    raise _Blocked(f"{_cut(current)} is not an http or https URL")
                if target.origin not in policy.origins:
                    raise _Blocked(f"origin {target.origin} is not allowed")
                left = max(deadline - anyio.current_time(), 0.0)
                async with self._pool.stream(
                    "GET",
                    target.url,
                    # Host is given, not derived: httpcore would leave an IPv6 one unbracketed.
                    # identity: the size cap counts the bytes we keep, not a gzip bomb's.
                    headers=[
                        (b"Host", target.netloc.encode("ascii")),
                        (b"User-Agent", policy.user_agent.encode("ascii")),
                        (b"Accept", b"*/*"),
                        (b"Accept-Encoding", b"identity"),
                    ],
                    extensions={
                        "timeout": dict.fromkeys(("connect", "read", "write", "pool"), left)
                    },
                ) as response:
                    location = _header(response, b"location")
                    if response.status not in _REDIRECTS:
                        return await self._accept(url, current, response)
                    if not location:
                        raise FetchRefused(f"HTTP {response.status} without a Location")
                    # Leaving the block closes the connection unless the body was read: a
                    # redirect's body is never worth reading.
            except _Blocked as exc:
                if hop:
                    raise _Blocked(f"redirect to {_cut(current)}: {exc.reason}") from None
                raise
            current = urljoin(current, location)
        raise FetchRefused(f"more than {policy.max_redirects} redirects")

    async def _accept(self, url: str, final_url: str, response: httpcore.Response) -> Fetched:
        policy = self.policy
        if not 200 <= response.status < 300:
            raise FetchRefused(f"HTTP {response.status}")
        media = (_header(response, b"content-type") or "").split(";", 1)[0].strip().lower()
        if not media:
            raise FetchRefused("no content type")
        if not any(
            media == p or (p.endswith("/*") and media.startswith(p[:-1]))
            for p in policy.content_types
        ):
            raise FetchRefused(f"content type {_cut(media, 80)} is not allowed")
        encoding = (_header(response, b"content-encoding") or "identity").lower()
        if encoding != "identity":  # stored as they came, these bytes would not be the asset
            raise FetchRefused(f"content encoding {_cut(encoding, 80)} was not asked for")
        length = _header(response, b"content-length")
        if length is not None and length.isdigit() and int(length) > policy.max_bytes:
            raise FetchRefused(f"larger than {_size(policy.max_bytes)}")
        body = bytearray()
        async for chunk in response.aiter_stream():
            body += chunk
            if len(body) > policy.max_bytes:  # the connection is dropped, not drained
                raise FetchRefused(f"larger than {_size(policy.max_bytes)}")
        return Fetched(url, final_url, media, bytes(body))
