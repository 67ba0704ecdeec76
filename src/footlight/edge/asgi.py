"""The few ASGI primitives the edge needs: a request view, bounded body reads, responses.

footlight's edge is plain ASGI rather than a framework: the ingest path is three routes and
the hot path of the whole server, and owning the body read is what lets an oversized or
slow request be cut off early (413 before reading, 408 on a stalled client).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import msgspec

from footlight.errors import HTTPError

if TYPE_CHECKING:
    from footlight.edge.bodies import BodyLease

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

_json_encode = msgspec.json.Encoder().encode
BODY_READY = "footlight.body_ready"
"""A scope key the HTTP protocol (`edge.http_protocol`) sets: a function that says whether
`receive` would return at once (the body, or the end of the connection, has arrived)."""
RETRY_AFTER_SECONDS = "2"
"""What every 503 (the store is unreachable) tells clients to wait before trying again."""


@dataclass
class RequestNote:
    """What a handler tells the app about the request it answered, for metrics and logs."""

    operation: str = ""
    """The GraphQL operation's field name from the schema ("" when not GraphQL, or unknown)."""
    code: str | None = None
    """The refusal's code (`extensions.code`), when the answer refused something."""
    message: str | None = None
    """The refusal's message (a stranger's text in part: cut and neutralised when logged)."""
    body_bytes: int = 0
    """Bytes of the request body read."""


@dataclass(frozen=True)
class Request:
    scope: Scope
    receive: Receive
    lease: BodyLease | None = None
    """Where this request's body is reserved against the process's budgets (`edge.bodies`)."""
    note: RequestNote = field(default_factory=RequestNote)

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def path(self) -> str:
        return str(self.scope["path"])

    def header(self, name: str) -> str | None:
        """The value of a header (repeated headers joined by ", "), or None."""
        return self._headers.get(name.lower().encode("latin-1"))

    @functools.cached_property
    def _headers(self) -> dict[bytes, str]:
        # Read once: an ingest request asks for eight of them.
        headers: dict[bytes, str] = {}
        for key, raw in self.scope["headers"]:
            value = raw.decode("latin-1")
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return headers

    def query_params(self) -> dict[str, str]:
        parsed = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        return {key: values[-1] for key, values in parsed.items()}

    async def body(self, limit: int, timeout_seconds: float) -> bytes:
        """The whole body; more than `limit` bytes is 413, not done in `timeout_seconds` 408.

        The body is reserved against the budgets of `lease` before it is read (by its
        declared length, or chunk by chunk), which may refuse it (413/429/503)."""
        declared = self.header("content-length")
        length = None
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                raise HTTPError(400, "Content-Length is not a number", "BAD_REQUEST") from None
            if length > limit:
                raise _too_large(limit)
            if self.lease is not None:
                self.lease.take(length)
        ready = self.scope.get(BODY_READY)
        first = await self._next_message() if ready is not None and ready() else None
        if first is not None and not first.get("more_body", False):
            body = self._counted(first.get("body", b""), limit, length)  # most requests
        else:
            try:
                async with asyncio.timeout(timeout_seconds):
                    body = await self._read(limit, length, first)
            except TimeoutError:
                raise HTTPError(
                    408,
                    f"the request body was not received within {timeout_seconds:g} s"
                    " (limit: body_timeout_seconds)",
                    "REQUEST_TIMEOUT",
                    [_CLOSE],
                ) from None
        self.note.body_bytes = len(body)
        return body

    async def _read(self, limit: int, length: int | None, message: Message | None) -> bytes:
        """The body, from `message` on (the first one, if it has been received already)."""
        if message is None:
            message = await self._next_message()
        chunk = message.get("body", b"")
        if not message.get("more_body", False):  # all of it at once: most requests
            return self._counted(chunk, limit, length)
        # Read into one buffer, of the declared length when there is one: many small chunks
        # held until the end fragment the heap, which then never shrinks back.
        buffer = bytearray(length) if length is not None else bytearray()
        size = 0
        while True:
            if length is not None:
                if size + len(chunk) > length:
                    raise HTTPError(
                        400, "the body is longer than its Content-Length", "BAD_REQUEST"
                    )
                buffer[size : size + len(chunk)] = chunk
            else:
                if size + len(chunk) > limit:
                    raise _too_large(limit)
                if self.lease is not None:
                    self.lease.take(len(chunk))
                buffer += chunk
            size += len(chunk)
            if not message.get("more_body", False):
                break
            message = await self._next_message()
            chunk = message.get("body", b"")
        if length is not None and size != length:
            raise HTTPError(400, "the body is shorter than its Content-Length", "BAD_REQUEST")
        return bytes(buffer)

    def _counted(self, chunk: bytes, limit: int, length: int | None) -> bytes:
        if length is None:
            if len(chunk) > limit:
                raise _too_large(limit)
            if self.lease is not None:
                self.lease.take(len(chunk))
        return chunk

    async def _next_message(self) -> Message:
        message = await self.receive()
        if message["type"] == "http.disconnect":
            raise HTTPError(400, "the client disconnected", "CLIENT_CLOSED")
        return message


_CLOSE = ("connection", "close")
"""Sent with an answer given before the body was read to its end: the rest is not read."""


def _too_large(limit: int) -> HTTPError:
    return HTTPError(
        413,
        f"the request body is larger than {limit} bytes (limit: max_body_bytes)",
        "PAYLOAD_TOO_LARGE",
        [_CLOSE],
    )


async def respond(
    send: Send,
    status: int,
    body: bytes = b"",
    content_type: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    encoded: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Answer `status` with `body`: the `encoded` headers first (as sent), then `headers`."""
    raw: Headers = [*encoded]
    raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers)
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
    encoded: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    await respond(send, status, _json_encode(payload), content_type, headers, encoded)


def error_body(
    message: str, code: str, extensions: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {**(extensions or {}), "code": code}}]}


def http_error_body(error: HTTPError) -> dict[str, Any]:
    """An `HTTPError` as ingest clients read errors: GraphQL-shaped."""
    return error_body(error.message, error.code, error.extensions)
