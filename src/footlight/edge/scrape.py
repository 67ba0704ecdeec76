"""`GET /metrics`: footlight's Prometheus metrics, on the main port, for the operator only.

The main port faces the internet (every browser posts to it), and metrics say how busy a
site is and which projects exist, so they are served only to clients the operator named:
addresses in `FOOTLIGHT_METRICS_ALLOW` (by default this machine: 127.0.0.0/8 and ::1), or
any client that sends `FOOTLIGHT_METRICS_TOKEN` as a bearer token. A request forwarded by
a reverse proxy on this machine would come from 127.0.0.1 too: one that carries
`X-Forwarded-For` or `Forwarded` counts as from the address it names, and only when the
proxy is a trusted one (`FOOTLIGHT_TRUSTED_PROXIES`); else it needs the token.

A scrape answers the instruments of `footlight.metrics` and, read from the store at that
moment, the queue, the sessions recording and the disk. A store that cannot be read does
not fail the scrape: `footlight_store_up` says 0 and the rest is answered.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from footlight import metrics
from footlight.core.clock import now_ms
from footlight.core.networks import Network
from footlight.edge.asgi import Request, Send, respond
from footlight.edge.clients import client_address, is_trusted_proxy
from footlight.errors import HTTPError, StoreUnavailable
from footlight.store.base import QueueState, StoreGauges

_ALLOW = ("allow", "GET, HEAD")
_JOB_KINDS = ("session", "live", "otlp", "backend")


def store_metrics(gauges: StoreGauges | None, now: int) -> list[metrics.Metric]:
    """The store's state as gauges; only `footlight_store_up 0` when it could not be read."""
    up = metrics.gauge(
        "footlight_store_up",
        "1 if the store answered this scrape's reads, else 0.",
        [({}, 0.0 if gauges is None else 1.0)],
    )
    if gauges is None:
        return [up]
    listed = {q.kind for q in gauges.queue}
    queue = [*gauges.queue, *(QueueState(k, 0, 0, None, 0) for k in _JOB_KINDS if k not in listed)]
    footprint = gauges.footprint
    families = [
        up,
        metrics.gauge(
            "footlight_processing_jobs",
            "Processing jobs by kind and state: waiting (not quarantined), due (now, and no"
            " run holds them), quarantined (waiting for `footlight jobs retry`).",
            [
                ({"kind": q.kind, "state": state}, float(value))
                for q in queue
                for state, value in (
                    ("waiting", q.waiting),
                    ("due", q.due),
                    ("quarantined", q.quarantined),
                )
            ],
        ),
        metrics.gauge(
            "footlight_processing_lag_seconds",
            "How long the longest-waiting due job of each kind has waited (0: none waits).",
            [
                (
                    {"kind": q.kind},
                    0.0 if q.oldest_due_at is None else max(now - q.oldest_due_at, 0) / 1000,
                )
                for q in queue
            ],
        ),
        metrics.gauge(
            "footlight_sessions_recording",
            "Sessions started and not yet finished (their processing is pending).",
            [({}, float(gauges.recording_sessions))],
        ),
        metrics.gauge(
            "footlight_store_disk_bytes",
            "Disk the store takes: SQLite's database file and WAL, or PostgreSQL's database.",
            [({}, float(footprint.used_bytes))],
        ),
    ]
    for name, documentation, value in (
        (
            "footlight_store_reusable_bytes",
            "Space inside the SQLite file free for new data, not yet given back to the file"
            " system.",
            footprint.reusable_bytes,
        ),
        (
            "footlight_store_filesystem_free_bytes",
            "Free space on the file system that holds the SQLite store.",
            footprint.free_bytes,
        ),
    ):
        if value is not None:  # SQLite's only
            families.append(metrics.gauge(name, documentation, [({}, float(value))]))
    return families


class MetricsEndpoint:
    def __init__(
        self,
        read_gauges: Callable[[int], Awaitable[StoreGauges]],
        allow: tuple[Network, ...],
        token: str | None,
        trusted_proxies: tuple[Network, ...],
    ) -> None:
        self._read_gauges = read_gauges
        self._allow = allow
        self._token = token
        self._trusted = trusted_proxies

    async def __call__(self, request: Request, send: Send) -> None:
        if request.method not in ("GET", "HEAD"):
            raise HTTPError(
                405, f"method {request.method} is not allowed", "METHOD_NOT_ALLOWED", [_ALLOW]
            )
        if not self._allowed(request):
            raise HTTPError(
                403,
                "metrics are served to the addresses in FOOTLIGHT_METRICS_ALLOW (by default"
                " this machine only), or with FOOTLIGHT_METRICS_TOKEN as a bearer token",
                "FORBIDDEN",
            )
        now = now_ms()
        try:
            gauges: StoreGauges | None = await self._read_gauges(now)
        except StoreUnavailable:
            gauges = None
        body = metrics.exposition(store_metrics(gauges, now))
        if request.method == "HEAD":
            body = b""
        await respond(send, 200, body, metrics.CONTENT_TYPE)

    def _allowed(self, request: Request) -> bool:
        if self._token is not None:
            sent = request.header("authorization") or ""
            scheme, _, credential = sent.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(
                credential.strip().encode(), self._token.encode()
            ):
                return True
        client = request.scope.get("client")
        peer = client[0] if client else None
        forwarded = request.header("x-forwarded-for")
        if (forwarded or request.header("forwarded")) and not is_trusted_proxy(peer, self._trusted):
            return False  # a proxy forwarded it for someone it does not name to us
        address = client_address(peer, forwarded, self._trusted)
        return address is not None and any(
            address.version == network.version and address in network for network in self._allow
        )
