"""Who is asking: the client address that per-client limits count against.

Every limit that protects footlight from one stranger (connections, buffered bytes, request
and byte rates, new sessions) is kept per client address. Behind a reverse proxy every
request comes from the proxy, so the address has to come from `X-Forwarded-For` instead, but
only when the proxy is one the operator listed (`FOOTLIGHT_TRUSTED_PROXIES`): anyone else can
write anything into that header, and a client that could choose its address could choose a
fresh one for every request.

The header is read from the right, the way nginx's `real_ip_recursive` does: each proxy
appends the address it received the request from, so the rightmost entries were written by
trusted proxies and the first untrusted address from the right is the client a trusted proxy
saw. What lies left of it was written by the client and is ignored. An entry that is not an
address ends the walk at the last trusted hop.

IPv6 clients are counted per /64: one host usually holds a whole /64 and can pick any address
in it, so counting single addresses would let it start afresh at will.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

from footlight.core.networks import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

log = logging.getLogger("footlight.edge")

UNKNOWN = "unknown"
"""The key of a client whose address the server was not told (a Unix socket)."""


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip().removeprefix("[").partition("]")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, networks: Iterable[Network]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]
) -> Address | None:
    """The client's address: the peer, or from `X-Forwarded-For` if the peer is trusted."""
    address = _address(peer) if peer else None
    if address is None or not trusted or not forwarded_for or not _trusted(address, trusted):
        return address
    for entry in reversed(forwarded_for.split(",")):
        hop = _address(entry)
        if hop is None:
            return address  # garbage: the last hop a trusted proxy vouched for
        address = hop
        if not _trusted(hop, trusted):
            return hop
    return address  # every hop is a trusted proxy: the request began at the leftmost


def client_key(address: Address | None) -> str:
    """What per-client limits count against: the IPv4 address, or the IPv6 /64."""
    if address is None:
        return UNKNOWN
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def is_trusted_proxy(peer: str | None, trusted: tuple[Network, ...]) -> bool:
    address = _address(peer) if peer else None
    return address is not None and _trusted(address, trusted)


class ClientKeys:
    """The client key of each request, remembered for the peers (and headers) seen lately.

    Working a key out takes several microseconds of address parsing; the same few clients
    send most requests, so recent answers are kept: per peer (whether it is a trusted proxy,
    and its own key), and, behind a trusted proxy, per `X-Forwarded-For` value of at most
    `_CACHED_HEADER` characters (a stranger controls that header; longer ones are worked out
    each time). Each map holds at most `capacity` entries, then is forgotten at once.

    Warns once when a peer that is not a trusted proxy sends `X-Forwarded-For`: usually a
    reverse proxy the operator has not listed, which makes every client behind it one client.
    """

    _CACHED_HEADER = 256

    def __init__(self, trusted: tuple[Network, ...], capacity: int = 4096) -> None:
        self._trusted = trusted
        self._capacity = capacity
        self._peers: dict[str | None, tuple[bool, str]] = {}
        self._forwarded: dict[tuple[str | None, str], str] = {}
        self._warned = False

    def key(self, peer: str | None, forwarded_for: str | None) -> str:
        known = self._peers.get(peer)
        if known is None:
            address = _address(peer) if peer else None
            trusted = address is not None and _trusted(address, self._trusted)
            known = (trusted, client_key(address))
            if len(self._peers) >= self._capacity:
                self._peers.clear()
            self._peers[peer] = known
        trusted, own_key = known
        if not forwarded_for:
            return own_key
        if not trusted:
            if not self._warned:
                self._warn(peer)
            return own_key
        cache = len(forwarded_for) <= self._CACHED_HEADER
        forwarded_key = self._forwarded.get((peer, forwarded_for)) if cache else None
        if forwarded_key is None:
            forwarded_key = client_key(client_address(peer, forwarded_for, self._trusted))
            if cache:
                if len(self._forwarded) >= self._capacity:
                    self._forwarded.clear()
                self._forwarded[(peer, forwarded_for)] = forwarded_key
        return forwarded_key

    def _warn(self, peer: str | None) -> None:
        self._warned = True
        log.warning(
            "requests from %s carry X-Forwarded-For, which footlight ignores because %s is"
            " not in FOOTLIGHT_TRUSTED_PROXIES: per-client limits count every request from it"
            " as one client. If it is your reverse proxy, add it to FOOTLIGHT_TRUSTED_PROXIES"
            " (e.g. FOOTLIGHT_TRUSTED_PROXIES=%s); otherwise a client is writing the header"
            " itself. (Logged once.)",
            peer,
            peer,
            peer,
        )
