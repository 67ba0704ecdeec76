"""A job cannot take a server down for good, nor be done twice (both engines, real servers).

* A job whose run kills the server is counted, backed off and quarantined, while the other
  sessions are processed; operators list and re-queue it with `footlight jobs`.
* A job given back at shutdown does not use up an attempt.
* A job longer than the lease keeps its lease (renewed) and is done once, by one worker.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.graphql import init_session, make_payload, push
from tests.helpers.processing_load import EVENTS, LATER, T0, moves, now_ms, view
from tests.helpers.servers import Server, http_client, start_server
from tests.helpers.store import db_rows
from tests.helpers.waiting import wait_for_processing


def session_key(data_dir: Path, secure_id: str) -> int:
    return int(db_rows(data_dir, "SELECT id FROM sessions WHERE secure_id = ?", (secure_id,))[0][0])


def queue_row(data_dir: Path, key: int) -> tuple[Any, ...] | None:
    rows = db_rows(
        data_dir,
        "SELECT lease_owner, lease_until, attempts, due_at, quarantined_at, last_error"
        " FROM processing_queue WHERE kind = 'session' AND key = ?",
        (key,),
    )
    return rows[0] if rows else None


# -- crash loops -------------------------------------------------------------------------------

HEAVY_PUSHES = 12
"""Pushes of a heavy session: its processing must outlive a one-second lease (the test
below) wherever the suite runs; with 5, a faster summary ended it in ~0.7 s."""


def heavy_session(client: httpx.Client) -> str:
    """A session whose processing takes seconds (500,000 events)."""
    secure_id = init_session(client)
    for i in range(HEAVY_PUSHES):
        data = moves(T0 + i * EVENTS, EVENTS, snapshot=i == 0)
        assert "errors" not in push(client, secure_id, i, data).json()
    return secure_id


def due_heavy_session(data: Path, backend: str) -> tuple[str, int]:
    """The secure id and queue key of a heavy session, stored by a server since stopped,
    its job due now."""
    server = start_server(data, env=LATER, backend=backend)
    try:
        with http_client(base_url=server.url, timeout=60) as client:
            secure_id = heavy_session(client)
    finally:
        server.stop()
    key = session_key(data, secure_id)
    db_rows(data, "UPDATE processing_queue SET due_at = 0")
    return secure_id, key


def wait_leased(server: Server, key: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = queue_row(server.data_dir, key)
        if row is not None and row[0] is not None:
            return
        assert server.process.poll() is None, server.log()[-3000:]
        time.sleep(0.005)
    raise AssertionError(f"session:{key} was never claimed:\n{server.log()[-3000:]}")


def footlight(server: Server, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "footlight", *args, *server.store_args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_a_job_that_kills_the_server_is_backed_off_then_quarantined(
    tmp_path: Path, backend: str
) -> None:
    lease = 1000
    env = {
        **LATER,
        "FOOTLIGHT_PROCESSING_LEASE_SECONDS": str(lease / 1000),
        "FOOTLIGHT_PROCESSING_MAX_ATTEMPTS": "3",
        # `footlight jobs retry` re-queues from another process: found by polling.
        "FOOTLIGHT_PROCESSING_POLL_SECONDS": "0.1",
    }
    data = tmp_path / "data"
    server = start_server(data, env=env, backend=backend)
    try:
        with http_client(base_url=server.url, timeout=60) as client:
            poison = heavy_session(client)
            other = init_session(client)
            assert "errors" not in push(client, other, 1, make_payload()).json()
    finally:
        server.stop()
    key = session_key(data, poison)
    make_due = (
        "UPDATE processing_queue SET due_at = 0, lease_owner = NULL, lease_until = NULL"
        " WHERE key = ?"
    )
    # Three runs, each killed mid-job, as the OOM killer would.
    for attempt in (1, 2, 3):
        db_rows(data, make_due, (key,))  # as if its back-off had passed
        started = now_ms()
        server = start_server(data, env=env, backend=backend)
        try:
            wait_leased(server, key)
        finally:
            server.kill()
        row = queue_row(data, key)
        assert row is not None
        _, _, attempts, due_at, quarantined_at, _ = row
        assert (attempts, quarantined_at) == (attempt, None)
        # Not due again before the lease doubled for every earlier attempt has passed.
        assert due_at >= started + lease * 2 ** (attempt - 1)
    # The next claim finds its attempts used up: quarantined, and the others go on.
    db_rows(data, "UPDATE processing_queue SET due_at = 0, lease_owner = NULL, lease_until = NULL")
    server = start_server(data, env=env, backend=backend)
    try:
        wait_for_processing(server)
        assert view(server, other).summary is not None
        assert view(server, poison).summary is None
        assert not view(server, poison).processing
        row = queue_row(data, key)
        assert row is not None
        assert row[4] is not None  # quarantined_at
        assert "quarantined after 3 attempts" in row[5]
        assert f"session:{key} quarantined after 3 attempts" in server.log()
        listed = footlight(server, "jobs", "quarantined")
        assert f"session:{key}" in listed
        assert "re-queued 1 quarantined job" in footlight(server, "jobs", "retry")
        wait_for_processing(server)  # re-queued, due now, and this time not killed
        summary = view(server, poison).summary
        assert summary is not None
        assert summary.event_count == HEAVY_PUSHES * EVENTS
        assert queue_row(data, key) is None
    finally:
        server.stop()


def test_a_job_given_back_at_shutdown_does_not_use_up_an_attempt(
    tmp_path: Path, backend: str
) -> None:
    data = tmp_path / "data"
    _, key = due_heavy_session(data, backend)
    server = start_server(data, env=LATER, backend=backend)
    try:
        wait_leased(server, key)
    finally:
        server.stop()  # SIGTERM: a graceful shutdown
    row = queue_row(data, key)
    assert row is not None
    lease_owner, _, attempts, due_at, _, _ = row
    assert (lease_owner, attempts) == (None, 0)
    assert due_at <= now_ms()


# -- leases ------------------------------------------------------------------------------------


def test_a_job_longer_than_its_lease_is_renewed_and_done_once(tmp_path: Path, backend: str) -> None:
    """Two workers, a one-second lease and a job of several seconds: without renewal the
    other worker took the job over every second and it was never done."""
    env = {**LATER, "FOOTLIGHT_PROCESSING_LEASE_SECONDS": "1", "FOOTLIGHT_WORKERS": "2"}
    data = tmp_path / "data"
    secure_id, key = due_heavy_session(data, backend)
    server = start_server(data, env=env, backend=backend)
    try:
        wait_leased(server, key)
        owners: set[str] = set()
        leases: list[int] = []
        deadline = time.monotonic() + 120
        while (row := queue_row(data, key)) is not None:
            assert time.monotonic() < deadline, f"never done; owners: {owners}"
            if row[0] is not None:
                owners.add(row[0])
                leases.append(row[1])
            time.sleep(0.05)
        # The run outlived its first lease (its deadline moved on by more than a lease),
        # renewing it, and nobody took it. (How far past depends on the machine's speed.)
        assert leases[-1] - leases[0] > 1000, "the job ended too soon to need a renewal"
        assert len(owners) == 1, owners
        summary = view(server, secure_id).summary
        assert summary is not None
        assert summary.event_count == HEAVY_PUSHES * EVENTS
        assert "taken over" not in server.log()
    finally:
        server.stop()
