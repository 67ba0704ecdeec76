"""Which address a request is counted against: the peer, or X-Forwarded-For from a trusted proxy."""

from __future__ import annotations

import ipaddress
import re

import pytest

from footlight.core.networks import parse_trusted_proxies
from footlight.edge.clients import (
    UNKNOWN,
    client_address,
    client_key,
    is_trusted_proxy,
)

PROXIES = parse_trusted_proxies("127.0.0.1, 10.0.0.0/8, ::1")


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        # Not from a trusted proxy: the header is anyone's to write, so it is ignored.
        ("203.0.113.7", "198.51.100.1", "203.0.113.7"),
        # From a trusted proxy: the address it appended.
        ("127.0.0.1", "198.51.100.1", "198.51.100.1"),
        # A chain of trusted proxies is walked from the right; what the client itself wrote
        # (left of the first untrusted address) is ignored.
        ("127.0.0.1", "6.6.6.6, 198.51.100.1, 10.1.2.3", "198.51.100.1"),
        # Garbage stops the walk at the last hop a trusted proxy vouched for.
        ("127.0.0.1", "198.51.100.1, not-an-address, 10.1.2.3", "10.1.2.3"),
        ("127.0.0.1", "", "127.0.0.1"),
        ("127.0.0.1", None, "127.0.0.1"),
        # Only trusted hops: the request began at the leftmost.
        ("127.0.0.1", "10.9.9.9, 10.1.2.3", "10.9.9.9"),
        # IPv6 and IPv4-mapped peers.
        ("::1", "2001:db8::5", "2001:db8::5"),
        ("::ffff:127.0.0.1", "198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "[2001:db8::5]", "2001:db8::5"),
    ],
)
def test_the_client_address_trusts_only_listed_proxies(
    peer: str, forwarded_for: str | None, expected: str
) -> None:
    assert client_address(peer, forwarded_for, PROXIES) == ipaddress.ip_address(expected)


def test_without_trusted_proxies_the_header_never_counts() -> None:
    assert client_address("127.0.0.1", "198.51.100.1", ()) == ipaddress.ip_address("127.0.0.1")


def test_clients_are_counted_per_ipv4_address_and_per_ipv6_64() -> None:
    one = client_key(ipaddress.ip_address("2001:db8:1:2::1"))
    assert one == client_key(ipaddress.ip_address("2001:db8:1:2:ffff::9")) == "2001:db8:1:2::/64"
    assert client_key(ipaddress.ip_address("2001:db8:1:3::1")) != one
    assert client_key(ipaddress.ip_address("192.0.2.1")) == "192.0.2.1"
    assert client_key(None) == UNKNOWN


def test_a_bad_proxy_list_names_the_bad_entry() -> None:
    expected = re.escape("'10.0.0.0/33' is not an IP address or network")
    with pytest.raises(ValueError, match=expected):
        parse_trusted_proxies("127.0.0.1,10.0.0.0/33")


def test_trusted_proxies_are_recognised_by_address() -> None:
    assert is_trusted_proxy("10.200.0.1", PROXIES)
    assert not is_trusted_proxy("192.0.2.1", PROXIES)
    assert not is_trusted_proxy(None, PROXIES)
