"""Limits on what a stranger can send: oversized, slow, bomb-like and huge-document requests
get a clear answer quickly, are never read into memory whole, and change nothing.

A server with small limits (set through the documented environment variables) makes each
limit cheap to reach.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import msgspec
import pytest

from tests.helpers.graphql import error_codes, gql, init_session, make_payload, meta_event, push
from tests.helpers.raw_http import exchange, status
from tests.helpers.servers import Server, client_of, running
from tests.helpers.store import read_session

MAX_BODY = 64 * 1024
MAX_INFLATED = 1024 * 1024
LIMITS = {
    "FOOTLIGHT_MAX_BODY_BYTES": str(MAX_BODY),
    "FOOTLIGHT_MAX_INFLATED_BYTES": str(MAX_INFLATED),
    "FOOTLIGHT_MAX_QUERY_BYTES": "4000",
    "FOOTLIGHT_MAX_QUERY_TOKENS": "600",
    "FOOTLIGHT_BODY_TIMEOUT_SECONDS": "1",
}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[Server]:
    with running(tmp_path_factory, "limits", backend, LIMITS) as server:
        yield server


@pytest.fixture
def limited_client(limited: Server) -> Iterator[httpx.Client]:
    with client_of(limited) as c:
        yield c


def _head(server: Server, extra: str) -> bytes:
    host = urlsplit(server.url).netloc
    return (
        f"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{extra}\r\n"
    ).encode()


def test_a_declared_oversized_body_is_refused_before_it_is_read(limited: Server) -> None:
    # Claims a gigabyte but sends nothing. A server that waited for the body would answer
    # 408 when the body timeout (1 s here) runs out; 413 means it did not wait.
    response = exchange(limited, _head(limited, "Content-Length: 1000000000\r\n"), [])
    assert status(response) == 413
    assert b"PAYLOAD_TOO_LARGE" in response


def test_a_chunked_body_is_cut_off_at_the_limit(limited: Server) -> None:
    chunk = b"x" * 16384
    frames = [b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(64)] + [b"0\r\n\r\n"]
    response = exchange(limited, _head(limited, "Transfer-Encoding: chunked\r\n"), frames)
    assert status(response) == 413
    assert b"max_body_bytes" in response


def test_a_body_just_under_the_limit_is_read(limited_client: httpx.Client) -> None:
    padding = " " * (MAX_BODY - 100)
    body = b'{"query": "{ ignore(id: 1) }"' + padding.encode() + b"}"
    assert len(body) < MAX_BODY
    response = limited_client.post("/", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.json() == {"data": {"ignore": None}}


def test_a_stalled_body_times_out_with_408(limited: Server) -> None:
    response = exchange(
        limited,
        _head(limited, "Content-Length: 100\r\n"),
        [b'{"query":', b" never finished"],
        pause=1.5,
    )
    assert status(response) == 408
    assert b"REQUEST_TIMEOUT" in response


def test_a_body_that_stalls_after_arriving_in_part_with_its_head_times_out_with_408(
    limited: Server,
) -> None:
    # The first bytes are there when the app reads, so that read needs no timer; the rest
    # still must come within the timeout.
    response = exchange(
        limited,
        _head(limited, "Content-Length: 100\r\n") + b'{"query":',
        [b" never finished"],
        pause=1.5,
    )
    assert status(response) == 408
    assert b"REQUEST_TIMEOUT" in response


def test_a_gzip_bomb_is_stopped_while_inflating(
    limited: Server, limited_client: httpx.Client
) -> None:
    secure_id = init_session(limited_client)
    # gzip compresses zeros about 1000:1: 40 MiB of them fit the 64 KiB body limit and
    # inflate to 40 times the inflate limit.
    bomb = gzip.compress(b"\0" * (40 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < MAX_BODY * 3 // 4
    response = push(limited_client, secure_id, 1, base64.b64encode(bomb).decode())
    assert response.status_code == 200
    assert error_codes(response) == ["PAYLOAD_TOO_LARGE"]
    assert "max_inflated_bytes" in response.json()["errors"][0]["message"]
    record = read_session(limited.data_dir, secure_id)
    assert record is not None
    assert record.payloads == []


def test_a_payload_just_under_the_inflate_limit_is_stored(
    limited: Server, limited_client: httpx.Client
) -> None:
    secure_id = init_session(limited_client)
    filler = "a" * (MAX_INFLATED - 2000)
    event = meta_event()
    event["data"]["filler"] = filler
    payload = make_payload(events=[event])
    assert len(msgspec.json.encode(payload)) < MAX_INFLATED
    response = push(limited_client, secure_id, 1, payload)
    assert response.json() == {"data": {"pushSessionEvents": None}}
    record = read_session(limited.data_dir, secure_id)
    assert record is not None
    assert len(record.payloads) == 1


def test_an_overlong_document_is_refused(limited_client: httpx.Client) -> None:
    query = "{ ignore(id: 1) }" + " " * 5000
    response = gql(limited_client, query)
    assert response.status_code == 400
    assert error_codes(response) == ["GRAPHQL_PARSE_FAILED"]
    assert "max_query_bytes" in response.json()["errors"][0]["message"]


def test_a_document_with_too_many_tokens_is_refused(limited_client: httpx.Client) -> None:
    query = "{" + " ".join(f"a{i}:ignore(id:1)" for i in range(120)) + "}"
    assert len(query) < 4000
    response = gql(limited_client, query)
    assert response.status_code == 400
    assert error_codes(response) == ["GRAPHQL_PARSE_FAILED"]
    assert "token" in response.json()["errors"][0]["message"].lower()
