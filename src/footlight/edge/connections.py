"""Open connections: how many one client and the whole process may hold, and which to close.

Every open connection costs a file descriptor, and a process has a fixed number of those
(`ulimit -n`, often 1024). A stranger who opens that many sockets and sends nothing used to
lock everyone out: the kernel still completed new clients' handshakes, but the server could
not accept them and reset them instead, `/healthz` included, for as long as the sockets
stayed open. Timeouts alone do not fix that (a patient attacker reconnects), so the table
here keeps the number of open connections below the open-file limit and decides, for each
new connection, who has to make room:

* A client address (`edge.clients.client_key`; IPv6 per /64) may hold
  `max_connections_per_client`. At that cap, its own longest-idle connection is closed to
  make room; only if all of them are busy with a request is the newcomer refused (429). An
  office behind one NAT address therefore never sees a refusal for connections its browsers
  merely keep alive. Reverse proxies listed in `FOOTLIGHT_TRUSTED_PROXIES` are exempt: all
  their clients share the proxy's address.
* The process holds at most `max_connections` (kept below the open-file limit, see
  `connection_capacity`). At that cap the longest-idle connection of anyone is closed to
  make room, so idle sockets can never starve clients that have something to send; only if
  every connection has a request in progress is the newcomer refused (503).

"Idle" means no request in progress: a connection that has not yet sent a complete request
head (a silent socket, a slowloris sending its headers a byte at a time) or that waits
between requests (keep-alive). Closing one loses nothing: it has no request that could be
answered, and browsers reopen a kept-alive connection the server closed (they retry a
request that met such a close before any answer). A refused newcomer is answered once its
request head arrives (so that the answer is not lost to a reset) and then closed; such
connections are few (`refusing`) and the oldest is dropped to make room for more.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from typing import Protocol

RESERVED_FILES = 128
"""Descriptors kept out of the connection budget: the store's files and connections (SQLite
database, WAL and shared memory per connection, or PostgreSQL sockets), log files, the
event loop's own, and connections accepted in one burst before they can be turned away.
An idle server uses about 25."""


def raise_open_file_limit() -> int:
    """Raise the soft open-file limit to the hard one (a process may); the resulting limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # pragma: no cover - some sandboxes refuse
            pass
    elif hard == resource.RLIM_INFINITY and soft != resource.RLIM_INFINITY:
        # Linux caps descriptors at fs.nr_open anyway; a million is plenty.
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (1 << 20, hard))
            soft = 1 << 20
        except (ValueError, OSError):  # pragma: no cover
            pass
    return int(soft) if soft != resource.RLIM_INFINITY else 1 << 20


@dataclass(frozen=True)
class Capacity:
    """How many connections one process holds, given its open-file limit."""

    max_connections: int
    """Admitted connections at once (the setting, or less if the open-file limit says so)."""
    max_refusing: int
    """Refused connections waiting for their request head, so they can be answered."""
    open_file_limit: int
    wanted: int
    """The `max_connections` setting."""

    @property
    def limited_by_open_files(self) -> bool:
        return self.max_connections < self.wanted


def connection_capacity(wanted: int, open_file_limit: int) -> Capacity:
    """`wanted` connections, or as many as fit below the open-file limit with room to spare."""
    spare = max(open_file_limit - RESERVED_FILES, 16)
    refusing = max(4, spare // 16)
    return Capacity(min(wanted, spare - refusing), refusing, open_file_limit, wanted)


class Connection(Protocol):
    """What the table needs of a connection: a way to close it while it is idle."""

    def close_idle(self) -> None: ...


class _Client:
    __slots__ = ("count", "idle")

    def __init__(self) -> None:
        self.count = 0
        # Insertion-ordered: the first entry has been idle longest.
        self.idle: dict[Connection, None] = {}


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str
    code: str


class ConnectionTable:
    """The process's open connections, by client, with the idle ones in the order they went
    idle. Every operation is O(1); it runs on the event loop only."""

    def __init__(self, max_connections: int, max_per_client: int, max_refusing: int) -> None:
        self.max_connections = max_connections
        self.max_per_client = max_per_client
        self.max_refusing = max_refusing
        self._members: dict[Connection, str | None] = {}  # the client key; None if exempt
        self._clients: dict[str, _Client] = {}
        self._idle: dict[Connection, None] = {}
        self._refusing: dict[Connection, None] = {}
        self.evicted = 0
        self.refused = 0

    @property
    def open(self) -> int:
        return len(self._members)

    def admit(self, connection: Connection, key: str | None) -> Refusal | None:
        """Take a new connection in (as idle), making room if needed; or say why not.

        `key` is the client's (None: exempt from the per-client cap). A refused connection
        is held among the `refusing` until it is answered and `remove`d.
        """
        client = self._clients.get(key) if key is not None else None
        if client is not None and client.count >= self.max_per_client:
            if not client.idle:
                return self._refuse(
                    connection,
                    Refusal(
                        429,
                        f"this client has {client.count} connections open with a request in"
                        f" progress (limit: max_connections_per_client)",
                        "TOO_MANY_REQUESTS",
                    ),
                )
            self._evict(next(iter(client.idle)))
        if len(self._members) >= self.max_connections:
            if not self._idle:
                return self._refuse(
                    connection,
                    Refusal(
                        503,
                        f"the server has {len(self._members)} connections open, all with a"
                        " request in progress (limit: max_connections)",
                        "SERVICE_UNAVAILABLE",
                    ),
                )
            self._evict(next(iter(self._idle)))
        self._members[connection] = key
        if key is not None:
            client = self._clients.get(key)  # again: making room may have removed it
            if client is None:
                client = self._clients[key] = _Client()
            client.count += 1
            client.idle[connection] = None
        self._idle[connection] = None
        return None

    def busy(self, connection: Connection) -> None:
        """A request is in progress on it: it is not to be closed to make room."""
        if connection in self._idle:
            del self._idle[connection]
            key = self._members[connection]
            if key is not None:
                del self._clients[key].idle[connection]

    def idle(self, connection: Connection) -> None:
        """It has answered its request and waits for another: the newest idle connection."""
        if connection in self._members and connection not in self._idle:
            self._idle[connection] = None
            key = self._members[connection]
            if key is not None:
                self._clients[key].idle[connection] = None

    def remove(self, connection: Connection) -> None:
        """It is closed (safe to call more than once)."""
        self._refusing.pop(connection, None)
        if connection not in self._members:
            return
        key = self._members.pop(connection)
        self._idle.pop(connection, None)
        if key is not None:
            client = self._clients[key]
            client.idle.pop(connection, None)
            client.count -= 1
            if client.count == 0:
                del self._clients[key]

    def _evict(self, connection: Connection) -> None:
        self.remove(connection)
        self.evicted += 1
        connection.close_idle()

    def _refuse(self, connection: Connection, refusal: Refusal) -> Refusal:
        if len(self._refusing) >= self.max_refusing:
            oldest = next(iter(self._refusing))
            del self._refusing[oldest]
            oldest.close_idle()
        self._refusing[connection] = None
        self.refused += 1
        return refusal
