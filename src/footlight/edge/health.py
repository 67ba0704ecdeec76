"""Liveness and readiness probes for orchestrators and load balancers."""

from __future__ import annotations

from footlight.edge.asgi import RETRY_AFTER_SECONDS, Request, Send, respond_json
from footlight.errors import StoreUnavailable
from footlight.store.base import StoreLifecycle


async def healthz(_request: Request, send: Send) -> None:
    """The process is up and serving HTTP."""
    await respond_json(send, 200, {"status": "ok"})


class Readyz:
    """The store takes durable writes: a tiny write is committed on every probe."""

    def __init__(self, store: StoreLifecycle) -> None:
        self._store = store

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
        await respond_json(send, 200, {"status": "ready"})
