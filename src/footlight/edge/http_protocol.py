"""The HTTP/1.1 connection: uvicorn's httptools protocol, with the bounds it lacks.

uvicorn (with httptools) parses requests fast but trusts the peer: it waits forever for a
request head, accumulates request lines and headers without a size limit, and keeps every
connection it accepts. footlight faces browsers on the open internet, so this subclass adds,
per connection:

* a **head timeout** (`header_timeout_seconds`): a new connection must deliver a complete
  request head that long after connecting; a kept-alive one waits up to
  `keep_alive_seconds` for the next request, and then must complete its head within the
  timeout of its first byte. A slow head (slowloris) gets 408; a connection that sent
  nothing is closed silently, as browsers expect of idle connections.
* a **head size cap** (`max_header_bytes`): a longer request line plus headers gets 431.
* **admission** through the process's `ConnectionTable` (`edge.connections`): a newcomer
  may close the longest-idle connection to make room, or is refused with 429 (its client
  holds too many busy connections) or 503 (every connection is busy), answered once its
  request head is in and then closed.
* a response sent before the request body was read to its end (413, 415, a refused body)
  closes the connection, instead of reading the rest only to throw it away.
* a response's head goes out with its body, in one write: uvicorn writes them one after the
  other, which is two system calls and two segments for every answer (`_HeadWithBody`).
* the request's scope says whether its body (or the end of it) has already arrived
  (`BODY_READY`): nearly every ingest body comes in the packet of its head, and reading one
  that is there needs no timer (`asgi.Request.body`); a timer for every request cost ~4 µs
  of the event loop's time, of ~170.

Everything else (parsing, pipelining, flow control, the ASGI cycle) is uvicorn's. The hooks
used here are the parser callbacks and connection events of `HttpToolsProtocol`; the tests
in tests/edge/test_connections.py exercise each of them over real sockets.
"""

from __future__ import annotations

import asyncio
import http
from typing import Any, cast

import msgspec
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from footlight.config import Limits
from footlight.core.networks import Network
from footlight.edge import cors
from footlight.edge.asgi import (
    BODY_READY,
    RETRY_AFTER_SECONDS,
    Receive,
    Request,
    Scope,
    Send,
    error_body,
    respond_json,
)
from footlight.edge.clients import client_address, client_key, is_trusted_proxy
from footlight.edge.connections import Capacity, ConnectionTable, Refusal


class EdgeGuard:
    """What the connections of one server process share: the limits and the table.

    Built before the server starts and copied into each worker process (uvicorn spawns
    them), so each process guards its own descriptors.
    """

    def __init__(self, limits: Limits, trusted: tuple[Network, ...], capacity: Capacity) -> None:
        self.limits = limits
        self.trusted = trusted
        self.capacity = capacity
        self.table = ConnectionTable(
            capacity.max_connections, limits.max_connections_per_client, capacity.max_refusing
        )


class _Refuse:
    """The ASGI app a refused connection runs instead of footlight's: one answer, then close."""

    def __init__(self, refusal: Refusal) -> None:
        self._refusal = refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [("retry-after", RETRY_AFTER_SECONDS), ("connection", "close")]
        refusal = self._refusal
        await respond_json(
            send,
            refusal.status,
            error_body(refusal.message, refusal.code),
            headers=headers,
            encoded=cors.response_headers(Request(scope, receive)),
        )


_encode = msgspec.json.Encoder().encode


class _HeadWithBody:
    """The connection as one response's cycle writes to it: the response's head is held
    until the body's first write, and both go out as one.

    uvicorn writes a head once the app has sent `http.response.start`, and its body at the
    next message, which always writes (an empty body too) except in answer to HEAD (not
    wrapped). An app that fails after the head makes uvicorn close the connection, which
    sends the head first. A `100 Continue` is written at once: the client waits for it."""

    __slots__ = ("_head", "_passing", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None
        self._passing = False
        """The head has gone out: every write now goes straight through."""

    def write(self, data: bytes) -> None:
        if self._passing:
            self._transport.write(data)
        elif self._head is not None:
            self._passing = True
            self._transport.write(self._head + data)
            self._head = None
        elif data.startswith(b"HTTP/1.1 100 "):
            self._transport.write(data)
        else:
            self._head = data  # nothing but a 100 Continue is written before the head

    def close(self) -> None:
        if self._head is not None:
            self._passing = True
            self._transport.write(self._head)
            self._head = None
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        guard: EdgeGuard,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._guard = guard
        self._awaiting_head = True
        """No request in progress: the next thing expected is a request head."""
        self._head_begun = False
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None

    # -- connection events -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        peer = self.client[0] if self.client else None
        key = None  # exempt from the per-client cap: a trusted proxy, or no address at all
        if peer is not None and not is_trusted_proxy(peer, self._guard.trusted):
            key = client_key(client_address(peer, None, ()))
        refusal = self._guard.table.admit(self, key)
        if refusal is not None:
            self.app = _Refuse(refusal)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard.table.remove(self)
        self._cancel_head_timer()
        super().connection_lost(exc)

    def close_idle(self) -> None:
        """Closed to make room for another connection (`ConnectionTable`)."""
        self._cancel_head_timer()
        if not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        first = self._awaiting_head and not self._head_begun
        if first:
            self._head_begun = True
        super().data_received(data)
        if self._awaiting_head and not self.transport.is_closing():
            if first:
                # After keep-alive the clock starts with the request's first bytes; only for
                # a head that did not come whole (almost every head comes in one read).
                self._arm_head_timer()
            # All of `data` went into the unfinished head (httptools buffers it itself).
            self._head_bytes += len(data)
            limit = self._guard.limits.max_header_bytes
            if self._head_bytes > limit:
                self._answer_and_close(
                    431,
                    f"the request head is longer than {limit} bytes (limit: max_header_bytes)",
                    "REQUEST_HEADER_FIELDS_TOO_LARGE",
                )

    # -- parser callbacks ----------------------------------------------------------------------

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._cancel_head_timer()
        self._guard.table.busy(self)
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:  # not upgraded to a websocket
            # Set when body arrives or the connection ends: uvicorn's `receive` then returns
            # without waiting.
            cast(Scope, self.scope)[BODY_READY] = cycle.message_event.is_set
            if self.scope["method"] != "HEAD":  # whose answer has no body to wait for
                cycle.transport = cast(asyncio.Transport, _HeadWithBody(self.transport))

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)  # if not, `self.cycle` is the one that has answered
        if not pipelined and self.cycle.more_body and not self.transport.is_closing():
            # Answered before its body was read to the end (413, 415, a refused body): the
            # rest is not worth receiving only to be discarded.
            self.transport.close()
        super().on_response_complete()
        if not pipelined and not self.transport.is_closing():
            self._awaiting_head = True
            self._head_begun = False
            self._head_bytes = 0
            self._guard.table.idle(self)  # uvicorn's keep-alive timeout now runs

    # -- the head timeout ----------------------------------------------------------------------

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(
                self._guard.limits.header_timeout_seconds, self._head_timed_out
            )

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._awaiting_head or self.transport.is_closing():
            return
        if not self._head_begun:
            self.transport.close()  # an idle connection: nothing to answer
            return
        seconds = self._guard.limits.header_timeout_seconds
        self._answer_and_close(
            408,
            f"the request head was not received within {seconds:g} s"
            " (limit: header_timeout_seconds)",
            "REQUEST_TIMEOUT",
        )

    def _answer_and_close(self, status: int, message: str, code: str) -> None:
        """Answer a request that never reached the app (its head was not complete)."""
        self._cancel_head_timer()
        body = _encode(error_body(message, code))
        head = (
            f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode("latin-1") + body)
        self.transport.close()
