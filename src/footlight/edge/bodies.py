"""How many request-body bytes the process holds at once: in total, and per client.

A request body is read whole before it is decoded (a payload is only stored once all of it
is known to be good), so every body in flight is memory. `max_body_bytes` bounds one body,
but not how many arrive at once: 250 connections each sending 16 MiB and holding back the
last byte once pinned 4 GB. So every body is reserved against two budgets before it is
read (by its `Content-Length`; a chunked body chunk by chunk as it arrives) and released
when its request has been answered:

* `max_buffered_body_bytes_per_client` for one client address (`edge.clients`: behind a
  trusted proxy, the address `X-Forwarded-For` names). Over it the request gets **429** with
  `Retry-After`: this client is sending more at once than any browser does.
* `max_buffered_body_bytes` for the whole process. Over it the request gets **503** with
  `Retry-After`: the server is busy, whoever is asking. Refusing at once rather than
  waiting keeps the answer quick and the bound simple; the SDK retries.

A body larger than a budget on its own could never fit and gets 413. Either refusal closes
the connection, so the rest of the body is not read.

Bodies of up to 16 KiB (`SMALL_BODY_BYTES`: every routine SDK push, 1-6 KB) count against
the client's budget only. Many clients together filling the global budget with large
bodies then cannot stop the small pushes of everyone else; their memory is bounded by the
connection cap instead (`max_connections` times 16 KiB: 64 MiB by default).
"""

from __future__ import annotations

from footlight.edge.asgi import RETRY_AFTER_SECONDS, Scope
from footlight.edge.clients import ClientKeys
from footlight.errors import HTTPError

_CLOSE = ("connection", "close")
SMALL_BODY_BYTES = 16 * 1024


class BodyBudget:
    def __init__(self, total: int, per_client: int, keys: ClientKeys) -> None:
        self.total = total
        self.per_client = per_client
        self.keys = keys
        self.held = 0
        self._clients: dict[str, int] = {}

    def lease(self, scope: Scope) -> BodyLease:
        """What one request reserves; `release` it when the request has been answered."""
        return BodyLease(self, scope)

    def _client_key(self, scope: Scope) -> str:
        """The key per-client limits count against (the same as `edge.admission`'s)."""
        client = scope.get("client")
        peer = client[0] if client else None
        forwarded = [v for k, v in scope["headers"] if k == b"x-forwarded-for"]
        return self.keys.key(peer, b", ".join(forwarded).decode("latin-1") if forwarded else None)

    def _take(self, lease: BodyLease, size: int) -> None:
        if lease.key is None:
            lease.key = self._client_key(lease.scope)
        wanted = lease.held + size
        if wanted > self.per_client or wanted > self.total:
            setting, limit = (
                ("max_buffered_body_bytes_per_client", self.per_client)
                if self.per_client <= self.total
                else ("max_buffered_body_bytes", self.total)
            )
            raise HTTPError(
                413,
                f"the request body is larger than {limit} bytes (limit: {setting})",
                "PAYLOAD_TOO_LARGE",
                [_CLOSE],
            )
        held_by_client = self._clients.get(lease.key, 0)
        if held_by_client + size > self.per_client:
            raise HTTPError(
                429,
                f"this client's request bodies in progress already hold {held_by_client} bytes;"
                f" {size} more would exceed {self.per_client}"
                " (limit: max_buffered_body_bytes_per_client)",
                "TOO_MANY_REQUESTS",
                [("retry-after", RETRY_AFTER_SECONDS), _CLOSE],
            )
        uncounted = wanted - lease.counted if wanted > SMALL_BODY_BYTES else 0
        if self.held + uncounted > self.total:
            raise HTTPError(
                503,
                f"the server holds {self.held} bytes of request bodies in progress;"
                f" {uncounted} more would exceed {self.total} (limit: max_buffered_body_bytes)",
                "SERVICE_UNAVAILABLE",
                [("retry-after", RETRY_AFTER_SECONDS), _CLOSE],
            )
        self._clients[lease.key] = held_by_client + size
        self.held += uncounted
        lease.counted += uncounted
        lease.held += size

    def _release(self, lease: BodyLease) -> int:
        released = lease.held
        if released == 0 or lease.key is None:
            return 0
        self.held -= lease.counted
        lease.counted = 0
        left = self._clients[lease.key] - lease.held
        if left:
            self._clients[lease.key] = left
        else:
            del self._clients[lease.key]
        lease.held = 0
        return released


class BodyLease:
    """The body bytes one request holds against the budget."""

    __slots__ = ("budget", "counted", "held", "key", "scope")

    def __init__(self, budget: BodyBudget, scope: Scope) -> None:
        self.budget = budget
        self.scope = scope
        self.key: str | None = None  # found on the first reservation (a GET makes none)
        self.held = 0
        self.counted = 0
        """The part of `held` counted against the global budget (all of it, unless small)."""

    def take(self, size: int) -> None:
        """Reserve `size` more bytes, or raise the HTTPError (413/429/503) that refuses them."""
        self.budget._take(self, size)

    def release(self) -> int:
        """Give the reservation back (when the request has been answered); how many bytes."""
        return self.budget._release(self)
