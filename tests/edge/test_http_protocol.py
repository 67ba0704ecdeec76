"""The HTTP connection's own changes to uvicorn's: each answer in one write, and a request's
scope saying whether its body has arrived (the bounds are tests/edge/test_connections.py's).

The writes are checked on `_HeadWithBody` with a transport that records them; what a client
sees (HEAD, `Expect: 100-continue`, keep-alive) on a real server over a real socket.
"""

from __future__ import annotations

import contextlib
import socket
from urllib.parse import urlsplit

from footlight.edge.http_protocol import _HeadWithBody
from tests.helpers.servers import Server

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class _Recorder:
    """A transport that keeps what is written to it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> str:
        return f"info {name}"


def _wrapped() -> tuple[_HeadWithBody, _Recorder]:
    recorder = _Recorder()
    return _HeadWithBody(recorder), recorder  # type: ignore[arg-type]


def test_a_head_goes_out_with_the_body_in_one_write() -> None:
    wrapped, recorder = _wrapped()
    wrapped.write(HEAD)
    assert recorder.writes == []
    wrapped.write(b"{}")
    assert recorder.writes == [HEAD + b"{}"]


def test_an_empty_body_still_sends_the_head() -> None:
    wrapped, recorder = _wrapped()
    wrapped.write(HEAD)
    wrapped.write(b"")
    assert recorder.writes == [HEAD]


def test_writes_after_the_first_body_write_go_straight_through() -> None:
    wrapped, recorder = _wrapped()
    wrapped.write(HEAD)
    wrapped.write(b"first")
    # A chunk of a streamed body may look like a head: it is not held.
    wrapped.write(b"HTTP/1.1 200 OK, a line of a streamed log")
    assert recorder.writes == [HEAD + b"first", b"HTTP/1.1 200 OK, a line of a streamed log"]


def test_a_100_continue_is_written_at_once() -> None:
    wrapped, recorder = _wrapped()
    wrapped.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert recorder.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    wrapped.write(HEAD)
    wrapped.write(b"{}")
    assert recorder.writes[1:] == [HEAD + b"{}"]


def test_closing_sends_a_held_head_first() -> None:
    wrapped, recorder = _wrapped()
    wrapped.write(HEAD)
    wrapped.close()
    assert recorder.writes == [HEAD]
    assert recorder.closed
    assert wrapped.is_closing()


def test_anything_else_is_the_transports() -> None:
    wrapped, _ = _wrapped()
    assert wrapped.get_extra_info("peername") == "info peername"


def _exchange(
    server: Server, request: bytes, *, then: bytes = b"", answers: int = 1, heads: bool = False
) -> bytes:
    """Send `request` (and `then` once something has come back); read until `answers`
    complete answers have come (with `heads`, answers without their bodies), and a moment
    more for anything that should not come."""
    parts = urlsplit(server.url)
    assert parts.hostname is not None
    assert parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        sent_rest = not then
        while data.count(b"HTTP/1.1 ") < answers or not _last_complete(data, heads):
            if not sent_rest and data:
                sock.sendall(then)
                sent_rest = True
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        sock.settimeout(0.2)
        with contextlib.suppress(TimeoutError):
            data += sock.recv(65536)  # a body that should not be there
        return data


def _last_complete(data: bytes, heads: bool) -> bool:
    head, found, body = data.rpartition(b"HTTP/1.1 ")[2].partition(b"\r\n\r\n")
    if not found or heads:
        return bool(found)
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return True


def _host(server: Server) -> bytes:
    return urlsplit(server.url).netloc.encode()


def test_a_head_request_gets_its_head_and_no_body(server: Server) -> None:
    answer = _exchange(
        server, b"HEAD / HTTP/1.1\r\nHost: " + _host(server) + b"\r\n\r\n", heads=True
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 405 ")
    assert body == b""


def test_a_client_that_expects_100_continue_gets_it_then_its_answer(server: Server) -> None:
    body = b'{"query": "{ ignore(id: 1) }"}'
    request = (
        b"POST / HTTP/1.1\r\nHost: " + _host(server) + b"\r\n"
        b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    answer = _exchange(server, request, then=body, answers=2)
    assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    final = answer.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert final.startswith(b"HTTP/1.1 200 ")
    assert final.endswith(b'{"data":{"ignore":null}}')


def test_pipelined_requests_get_whole_answers_in_order(server: Server) -> None:
    paths = [b"/healthz", b"/nowhere", b"/healthz"]
    request = b"".join(
        b"GET " + path + b" HTTP/1.1\r\nHost: " + _host(server) + b"\r\n\r\n" for path in paths
    )
    answer = _exchange(server, request, answers=len(paths))
    statuses = []
    rest = answer
    while rest:
        head, _, rest = rest.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        body, rest = rest[:length], rest[length:]
        assert len(body) == length
        statuses.append(int(head.split(b" ")[1]))
    assert statuses == [200, 404, 200]


def test_answers_do_not_name_the_server(server: Server) -> None:
    answer = _exchange(server, b"GET /healthz HTTP/1.1\r\nHost: " + _host(server) + b"\r\n\r\n")
    head = answer.partition(b"\r\n\r\n")[0].lower()
    assert b"\r\nserver:" not in head
    assert b"\r\ndate:" in head
