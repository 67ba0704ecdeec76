"""The HTTP connection's own changes to uvicorn's: each answer in one write, and no `server`
header (its bounds are tests/edge/test_connections.py's; the scope's word that a body has
arrived, tests/edge/test_limits.py's stalled bodies).

The writes are checked on `_HeadWithBody` with a transport that records them; what a client
sees (HEAD, `Expect: 100-continue`, pipelined requests) on a real server over a socket.
"""

from __future__ import annotations

from footlight.edge.http_protocol import _HeadWithBody
from tests.helpers.raw_http import exchange, header_of, host, status, whole_answers
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


def test_a_head_request_gets_its_head_and_no_body(server: Server) -> None:
    answer = exchange(
        server,
        b"HEAD / HTTP/1.1\r\nHost: " + host(server) + b"\r\n\r\n",
        heads_only=True,
        linger=0.2,
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 405 ")
    assert body == b""


def test_a_client_that_expects_100_continue_gets_it_then_its_answer(server: Server) -> None:
    body = b'{"query": "{ ignore(id: 1) }"}'
    request = (
        b"POST / HTTP/1.1\r\nHost: " + host(server) + b"\r\n"
        b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    # The body follows a moment later, as a client's does once the 100 came (or it tired of
    # waiting for it).
    answer = exchange(server, request, [body], pause=0.3, answers=2)
    assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    final = answer.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert status(final) == 200
    assert final.endswith(b'{"data":{"ignore":null}}')


def test_pipelined_requests_get_whole_answers_in_order(server: Server) -> None:
    paths = [b"/healthz", b"/nowhere", b"/healthz"]
    request = b"".join(
        b"GET " + path + b" HTTP/1.1\r\nHost: " + host(server) + b"\r\n\r\n" for path in paths
    )
    answer = exchange(server, request, answers=len(paths), linger=0.2)
    assert whole_answers(answer) == len(paths)
    statuses = []
    rest = answer
    while rest:
        statuses.append(status(rest))
        head, _, rest = rest.partition(b"\r\n\r\n")
        rest = rest[int(header_of(head, b"content-length") or b"0") :]
    assert statuses == [200, 404, 200]


def test_answers_do_not_name_the_server(server: Server) -> None:
    answer = exchange(server, b"GET /healthz HTTP/1.1\r\nHost: " + host(server) + b"\r\n\r\n")
    assert header_of(answer, b"server") is None
    assert header_of(answer, b"date") is not None
