"""Liveness and readiness probes for orchestrators and load balancers."""

from __future__ import annotations

from collections.abc import Callable

from footlight.edge.asgi import RETRY_AFTER_SECONDS, Request, Send, respond_json
from footlight.errors import StoreUnavailable
from footlight.store.base import StoreLifecycle


async def healthz(_request: Request, send: Send) -> None:
    """The process is up and serving HTTP."""
    await respond_json(send, 200, {"status": "ok"})


class Readyz:
    """The store takes durable writes: a tiny write is committed on every probe. A disk
    nearly full is said in `warnings` but stays 200: sessions recording, reads and purges
    still work, and a load balancer should keep sending them."""

    def __init__(self, store: StoreLifecycle, low_disk: Callable[[], str | None]) -> None:
        self._store = store
        self._low_disk = low_disk

    async def __call__(self, _request: Request, send: Send) -> None:
        try:
            await self._store.check_writable()
        except StoreUnavailable as exc:
            await respond_json(
                send,
                503,
                {"status": "unavailable", "reason": str(exc)},
                headers=[("retry-after", RETRY_AFTER_SECONDS)],
            )
            return
        low = self._low_disk()
        await respond_json(
            send, 200, {"status": "ready", **({"warnings": [low]} if low is not None else {})}
        )
