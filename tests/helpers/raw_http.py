"""HTTP/1.1 by hand over a socket: for what a client library hides or will not do (a head
or body sent in parts, pauses, `Expect: 100-continue`, pipelining, a stranger's nonsense),
and answers read byte for byte."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from tests.helpers.servers import Server


def address(server: Server) -> tuple[str, int]:
    parts = urlsplit(server.url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def host(server: Server) -> bytes:
    """The server's `Host` header value."""
    return urlsplit(server.url).netloc.encode()


def whole_answers(data: bytes, heads_only: bool = False) -> int:
    """How many whole answers `data` holds: each a head and its Content-Length of body (none
    with `heads_only`, as in answer to HEAD)."""
    count = 0
    while True:
        head, found, rest = data.partition(b"\r\n\r\n")
        if not found:
            return count
        length = 0 if heads_only else (header_of(head, b"content-length") or b"0")
        if len(rest) < int(length):
            return count
        count += 1
        data = rest[int(length) :]


def read_answers(sock: socket.socket, count: int = 1, heads_only: bool = False) -> bytes:
    """What the server sends until `count` whole answers have come, or it closes, resets or
    falls silent for the socket's timeout."""
    data = b""
    with contextlib.suppress(ConnectionResetError, TimeoutError):
        while whole_answers(data, heads_only) < count:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def exchange(
    server: Server,
    request: bytes,
    parts: Sequence[bytes] = (),
    *,
    pause: float = 0.0,
    answers: int = 1,
    heads_only: bool = False,
    linger: float = 0.0,
) -> bytes:
    """Send `request`, then each of `parts` `pause` seconds apart (until the server closes),
    on a new connection; return what came back (see `read_answers`), and anything more
    within `linger` seconds (what should not come)."""
    with socket.create_connection(address(server), timeout=10) as sock:
        sock.sendall(request)
        for part in parts:
            time.sleep(pause)
            try:
                sock.sendall(part)
            except OSError:
                break  # the server answered and closed: that may be the point
        data = read_answers(sock, answers, heads_only)
        if linger:
            sock.settimeout(linger)
            with contextlib.suppress(TimeoutError, ConnectionResetError):
                data += sock.recv(65536)
        return data


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def header_of(answer: bytes, name: bytes) -> bytes | None:
    """The value of header `name` (lower case) in the head that `answer` starts with."""
    for line in answer.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None
