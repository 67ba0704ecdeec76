"""Waiting for what a server does a moment after it answers: processing, and what the read
API shows once processing stored it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers.cli import create_token
from tests.helpers.servers import Server, bearer_client
from tests.helpers.store import db_rows

_QUEUED = "SELECT count(*) FROM processing_queue WHERE quarantined_at IS NULL"


def wait_for_processing(server: Server, timeout: float = 60.0, poll: float = 0.02) -> None:
    """Return once the server's processing queue is empty (everything stored so far is
    processed, or quarantined); fail after `timeout` s with the end of its log.

    The server processes a job as soon as it is due, so this looks often: with one query on
    the server's database, not by opening a store beside it (tens of milliseconds a time)."""
    deadline = time.monotonic() + timeout
    while (queued := db_rows(server.data_dir, _QUEUED)[0][0]) > 0:
        if time.monotonic() > deadline:
            pytest.fail(
                f"processing did not drain within {timeout} s ({queued} jobs queued);"
                f" server log:\n{server.log()[-3000:]}"
            )
        time.sleep(poll)


def read_api_until(
    server: Server, path: str, ready: Callable[[Any], bool], timeout: float = 30.0
) -> Any:
    """The JSON answer of a read-API GET (with a new token) once `ready` holds for it, or
    the last one after `timeout` s: for what processing stores a moment after it arrives.
    Answers other than 200 (a 404 before the thing exists) are waited out, not returned."""
    deadline = time.monotonic() + timeout
    with bearer_client(server, create_token(server)) as api:
        while True:
            response = api.get(path)
            done = time.monotonic() > deadline
            if response.status_code == 200 and (ready(response.json()) or done):
                return response.json()
            assert not done, f"GET {path}: {response.status_code} {response.text[:500]}"
            time.sleep(0.2)


def read_rows_until(
    server: Server, path: str, ready: Callable[[list[dict[str, Any]]], bool] = bool
) -> list[dict[str, Any]]:
    """The rows of a read-API list (its one list) once `ready` holds for them (by default:
    once there are some), or as they are after 30 s."""

    def rows(body: dict[str, Any]) -> list[dict[str, Any]]:
        return next(v for v in body.values() if isinstance(v, list))

    return rows(read_api_until(server, path, lambda body: ready(rows(body))))


def next_millisecond() -> int:
    """Wait for the clock to pass the current millisecond and return the new one.

    Sessions started before the call have a `created_at` below it, sessions started after it
    one at or above it: a boundary for the `from`/`to` filters.
    """
    now = int(time.time() * 1000)
    while (later := int(time.time() * 1000)) <= now:
        time.sleep(0.001)
    return later
