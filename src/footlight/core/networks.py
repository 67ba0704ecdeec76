"""IP networks as settings name them (`FOOTLIGHT_TRUSTED_PROXIES`): parsed once at start.

Configuration parses the setting and the edge matches client addresses against it, so the
type and its parser sit below both.
"""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted_proxies(text: str) -> tuple[Network, ...]:
    """`10.0.0.0/8, 127.0.0.1` → networks; a bare address is a network of one."""
    networks = []
    for part in text.split(","):
        item = part.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(
                f"{item!r} is not an IP address or network (like 10.0.0.0/8 or ::1)"
            ) from None
    return tuple(networks)
