"""A server on PostgreSQL given text PostgreSQL cannot hold (a NUL character) or index (an
entry over 2,704 bytes), over real HTTP.

SQLite keeps a NUL like any other character; PostgreSQL refuses it. That refusal is the
request's fault: it is answered as bad input and writes nothing, while the writes of other
clients committed in the same group commit are stored and answered 200, never 503.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.helpers.cli import create_token
from tests.helpers.graphql import (
    IDENTIFY_DOC,
    INIT_DOC,
    error_codes,
    gql,
    init_session,
    init_variables,
    make_payload,
    new_secure_id,
    push,
)
from tests.helpers.servers import Server, http_client, start_server
from tests.helpers.store import BACKENDS, db_rows

pytestmark = pytest.mark.skipif(
    "postgresql" not in BACKENDS, reason="PostgreSQL is not among FOOTLIGHT_TEST_BACKENDS"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(
        tmp_path_factory.mktemp("nul") / "data",
        env={"FOOTLIGHT_SESSION_INACTIVITY_SECONDS": "0.2"},
        backend="postgresql",
    )
    yield running
    running.stop()


def send(server: Server, document: str, variables: dict[str, Any], operation: str) -> Any:
    with http_client(base_url=server.url, timeout=30) as client:
        return gql(client, document, variables, operation)


def test_a_nul_is_bad_input_and_good_writes_beside_it_are_stored(server: Server) -> None:
    with http_client(base_url=server.url, timeout=30) as client:
        identified = init_session(client)
    good = [new_secure_id() for _ in range(40)]
    bad_inits = [new_secure_id() for _ in range(10)]

    # Interleaved and at once, so that bad and good writes share group commits.
    with ThreadPoolExecutor(16) as pool:
        requests = [
            *(
                pool.submit(
                    send,
                    server,
                    INIT_DOC,
                    init_variables(s, environment="prod\x00uction"),
                    "initializeSession",
                )
                for s in bad_inits
            ),
            pool.submit(
                send,
                server,
                IDENTIFY_DOC,
                {"session_secure_id": identified, "user_identifier": "ada\x00lovelace"},
                "identifySession",
            ),
            *(
                pool.submit(send, server, INIT_DOC, init_variables(s), "initializeSession")
                for s in good
            ),
        ]
        responses = [r.result() for r in requests]

    refused, accepted = responses[: len(bad_inits) + 1], responses[len(bad_inits) + 1 :]
    for response in refused:
        assert response.status_code == 200, response.text
        assert error_codes(response) == ["BAD_USER_INPUT"], response.text
        assert "NUL" in response.json()["errors"][0]["message"]
    for response in accepted:
        assert response.status_code == 200, response.text
        assert "errors" not in response.json(), response.text
    stored = {row[0] for row in db_rows(server.data_dir, "SELECT secure_id FROM sessions")}
    assert stored == {identified, *good}
    assert db_rows(
        server.data_dir, "SELECT identifier FROM sessions WHERE secure_id = ?", [identified]
    ) == [(None,)]


def test_a_nul_in_what_the_sdk_logged_is_kept_as_a_replacement_character(
    server: Server,
) -> None:
    # Derived text with a NUL cannot go into PostgreSQL as is; refusing it would leave the
    # whole session unprocessed for one odd console line.
    with http_client(base_url=server.url, timeout=30) as client:
        secure_id = init_session(client)
        message = {"type": "log", "value": ["a\x00b"], "time": 1, "trace": [], "attributes": "{}"}
        response = push(client, secure_id, 1, make_payload(messages=[message]))
        assert response.status_code == 200, response.text
    deadline = time.monotonic() + 30
    query = "SELECT message FROM console_messages WHERE session_secure_id = ?"
    while not (stored := db_rows(server.data_dir, query, [secure_id])):
        assert time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.1)
    assert stored == [("a\ufffdb",)]
    failures = db_rows(
        server.data_dir, "SELECT count(*) FROM processing_queue WHERE last_error IS NOT NULL"
    )
    assert failures == [(0,)]


def test_a_read_naming_a_nul_is_bad_input(server: Server) -> None:
    variables = init_variables(new_secure_id(), "key\x00")
    graph = send(server, INIT_DOC, variables, "initializeSession")
    with http_client(base_url=server.url, timeout=30) as client:
        token = create_token(server)
        rest = client.get("/api/v1/sessions?user=%00", headers={"authorization": f"Bearer {token}"})
        signed_in = client.post("/ui/login", data={"token": token})
        client.cookies.set("footlight_ui", signed_in.cookies["footlight_ui"])
        page = client.get("/ui/sessions?user=%00")

    assert graph.status_code == 200, graph.text
    assert error_codes(graph) in (["BAD_USER_INPUT"], ["NOT_FOUND"]), graph.text
    assert rest.status_code == 400, rest.text
    assert page.status_code == 400, page.text


def test_a_value_postgresql_cannot_index_is_bad_input_and_writes_beside_it_are_stored(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The default limits keep every indexed text under PostgreSQL's 2,704-byte B-tree entry;
    an operator who raises them gets refusals of that call alone, not a 503 for every write
    committed with it (which was the answer when any stranger sent 1,000 CJK characters)."""
    raised = start_server(
        tmp_path_factory.mktemp("index-limit") / "data",
        env={"FOOTLIGHT_MAX_PROPERTY_VALUE_BYTES": "100000"},
        backend="postgresql",
    )
    try:
        with http_client(base_url=raised.url, timeout=30) as client:
            sessions = [init_session(client) for _ in range(10)]
        unindexable = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(2000))
        with ThreadPoolExecutor(16) as pool:
            bad = [
                pool.submit(
                    send,
                    raised,
                    IDENTIFY_DOC,
                    {
                        "session_secure_id": s,
                        "user_identifier": "u",
                        "user_object": {"bio": unindexable},
                    },
                    "identifySession",
                )
                for s in sessions
            ]
            good = [
                pool.submit(
                    send, raised, INIT_DOC, init_variables(new_secure_id()), "initializeSession"
                )
                for _ in range(30)
            ]
            refused = [r.result() for r in bad]
            accepted = [r.result() for r in good]
    finally:
        raised.stop()
    for response in refused:
        assert response.status_code == 200, response.text
        assert error_codes(response) == ["BAD_USER_INPUT"], response.text
        assert "index row" in response.json()["errors"][0]["message"]
    for response in accepted:
        assert response.status_code == 200, response.text
        assert "errors" not in response.json(), response.text
