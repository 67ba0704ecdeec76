"""Per-client limits, applied by the edge to every ingest request before its body is parsed.

Which client a request is (`edge.clients`) and how much it may send (`ingest.quotas`) are
decided elsewhere; here they meet the HTTP request: the body has been read (its size is the
cost) but not yet parsed, decoded or inflated, so a refused request costs almost nothing.
A refusal is `429 Too Many Requests` with `Retry-After` and a GraphQL-shaped error body.
"""

from __future__ import annotations

from footlight.edge.asgi import Request
from footlight.edge.clients import ClientKeys
from footlight.errors import HTTPError, Refused
from footlight.ingest.quotas import Limiter


def too_many_requests(refused: Refused) -> HTTPError:
    return HTTPError(
        429,
        refused.message,
        refused.code,
        [("retry-after", str(refused.retry_after_seconds))],
        refused.extensions,
    )


class ClientAdmission:
    def __init__(self, limiter: Limiter, keys: ClientKeys) -> None:
        self._limiter = limiter
        self._keys = keys

    def key(self, request: Request) -> str:
        """The client key the request counts against."""
        client = request.scope.get("client")
        peer = client[0] if client else None
        return self._keys.key(peer, request.header("x-forwarded-for"))

    def key_of(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client key of a peer address (and its `X-Forwarded-For`), for other protocols."""
        return self._keys.key(peer, forwarded_for)

    def admit(self, key: str, size: int) -> None:
        """Count a request of `size` bytes against its client, or raise HTTPError(429)."""
        try:
            self._limiter.admit_client(key, size)
        except Refused as refused:
            raise too_many_requests(refused) from None
