"""The few ASGI primitives the edge needs: a request view, bounded body reads, responses.

footlight's edge is plain ASGI rather than a framework: the ingest path is three routes and
the hot path of the whole server, and owning the body read is what lets an oversized or
slow request be cut off early (413 before reading, 408 on a stalled client).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import msgspec

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

_json_encode = msgspec.json.Encoder().encode
RETRY_AFTER_SECONDS = "2"
"""What every 503 (the store is unreachable) tells clients to wait before trying again."""


class HTTPError(Exception):
    """Answer the request with this status and a GraphQL-shaped error body."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        headers: Iterable[tuple[str, str]] = (),
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = list(headers)
        self.extensions = dict(extensions or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.code, self.extensions)


@dataclass(frozen=True)
class Request:
    scope: Scope
    receive: Receive

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def path(self) -> str:
        return str(self.scope["path"])

    def header(self, name: str) -> str | None:
        """The value of a header (repeated headers joined by ", "), or None."""
        key = name.lower().encode("latin-1")
        values = [v.decode("latin-1") for k, v in self.scope["headers"] if k == key]
        return ", ".join(values) if values else None

    def query_params(self) -> dict[str, str]:
        parsed = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        return {key: values[-1] for key, values in parsed.items()}

    async def body(self, limit: int, timeout_seconds: float) -> bytes:
        """The whole body; more than `limit` bytes is 413, not done in `timeout_seconds` 408."""
        declared = self.header("content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                raise HTTPError(400, "Content-Length is not a number", "BAD_REQUEST") from None
            if length > limit:
                raise _too_large(limit)
        try:
            async with asyncio.timeout(timeout_seconds):
                return await self._read(limit)
        except TimeoutError:
            raise HTTPError(
                408,
                f"the request body was not received within {timeout_seconds:g} s",
                "REQUEST_TIMEOUT",
            ) from None

    async def _read(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise HTTPError(400, "the client disconnected", "CLIENT_CLOSED")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _too_large(limit: int) -> HTTPError:
    return HTTPError(
        413,
        f"the request body is larger than {limit} bytes (limit: max_body_bytes)",
        "PAYLOAD_TOO_LARGE",
    )


async def respond(
    send: Send,
    status: int,
    body: bytes = b"",
    content_type: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> None:
    raw: Headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    if content_type is not None:
        raw.append((b"content-type", content_type.encode("latin-1")))
    raw.append((b"content-length", str(len(body)).encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def respond_json(
    send: Send,
    status: int,
    payload: Any,
    content_type: str = "application/json",
    headers: Iterable[tuple[str, str]] = (),
) -> None:
    await respond(send, status, _json_encode(payload), content_type, headers)


def error_body(
    message: str, code: str, extensions: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {**(extensions or {}), "code": code}}]}
