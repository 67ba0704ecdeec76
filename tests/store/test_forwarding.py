"""Several server processes, one writer: an acceptor's ingest writes commit in the primary.

In process, with real stores: a `ForwardedIngestStore` whose own store is a second, empty
database sends initializeSession, pushes, identify, properties and feedback to a
`WriteService` on the primary's store; they land there, reads stay local, and a refusal
arrives with its type and fields. A primary that goes away fails the writes waiting on it
with StoreUnavailable (503 at the edge) and stops the acceptor.

Through `footlight serve --workers`, on both stores: pushes over new connections (the kernel
spreads them over the processes' sockets) are each stored once, the processes all answer,
the same refused push gets the same answer from each, a killed primary is started again with
its acceptors, and stopping `footlight serve` stops them all.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from footlight.errors import SessionFull, StoreUnavailable, UnknownProject, UnknownSession
from footlight.store import IncomingPayload, NewSession, SessionField, SQLiteStore, SQLStore
from footlight.store.base import Feedback
from footlight.store.forwarding import ForwardedIngestStore, WriteService
from footlight.store.postgres import PostgresStore
from tests.helpers.graphql import compress, init_session, make_payload, push
from tests.helpers.servers import Server, client_of, start_server
from tests.helpers.store import db_rows, fresh_database, push_of


def _payload(payload_id: int, size: int = 10) -> IncomingPayload:
    return push_of(payload_id, f'{{"payload":{payload_id},"pad":"{"x" * size}"}}'.encode())


@asynccontextmanager
async def _primary_and_acceptor(
    tmp_path: Path, backend: str
) -> AsyncIterator[tuple[SQLStore, SQLStore, ForwardedIngestStore, WriteService, list[str]]]:
    """The primary's store behind a WriteService, and an acceptor's view of it whose own
    store is another (empty) database."""
    stores: list[SQLStore] = []
    for name in ("primary", "acceptor"):
        if backend == "sqlite":
            stores.append(SQLiteStore(tmp_path / name))
        else:
            stores.append(PostgresStore(fresh_database()))
    primary, local = stores
    for store in stores:
        await store.open()
        await store.ensure_default_project()
    service = WriteService(primary, tmp_path / "writer.sock")
    await service.start()
    lost: list[str] = []
    forwarded = ForwardedIngestStore(local, tmp_path / "writer.sock", lambda: lost.append("lost"))
    await forwarded.connect(wait_seconds=5)
    try:
        yield primary, local, forwarded, service, lost
    finally:
        await forwarded.close()
        await service.stop()
        for store in stores:
            await store.close()


@pytest.mark.anyio
async def test_forwarded_writes_commit_in_the_primary_and_reads_stay_local(
    tmp_path: Path, backend: str
) -> None:
    async with _primary_and_acceptor(tmp_path, backend) as (primary, local, forwarded, _, _):
        session = await forwarded.initialize_session(NewSession("forwarded01", 1, 1_000))
        assert session.secure_id == "forwarded01"
        assert await forwarded.append_payload("forwarded01", _payload(1)) is True
        assert await forwarded.append_payload("forwarded01", _payload(1)) is False  # a retry
        await forwarded.identify(
            "forwarded01", "ada@example.com", None, [SessionField("user", "plan", "pro")], 2_000
        )
        await forwarded.add_fields("forwarded01", [SessionField("session", "reload", "no")], 3)
        await forwarded.add_feedback("forwarded01", Feedback("slow", 4_000), 4_000)

        in_primary = await primary.session_view("forwarded01")
        assert in_primary is not None
        assert in_primary.identifier == "ada@example.com"
        assert (await primary.session_size("forwarded01")) is not None
        assert await primary.payload_totals("forwarded01") == (1, len(_payload(1).body))
        fields = {(f.kind, f.key, f.value) for f in in_primary.fields}
        assert {("user", "plan", "pro"), ("session", "reload", "no")} <= fields
        # Nothing was written through the acceptor's own store, and reads are its own.
        assert await local.session_view("forwarded01") is None
        assert await forwarded.session_size("forwarded01") is None


@pytest.mark.anyio
async def test_refusals_cross_with_their_type_and_fields(tmp_path: Path, backend: str) -> None:
    async with _primary_and_acceptor(tmp_path, backend) as (_, _, forwarded, _, _):
        with pytest.raises(UnknownSession) as unknown:
            await forwarded.append_payload("nobody", _payload(1))
        assert unknown.value.secure_id == "nobody"
        assert "call initializeSession first" in str(unknown.value)
        with pytest.raises(UnknownProject) as project:
            await forwarded.initialize_session(NewSession("elsewhere1", 99, 1_000))
        assert project.value.project_id == 99
        await forwarded.initialize_session(NewSession("smallsession", 1, 1_000))
        first = _payload(1, size=100)
        assert await forwarded.append_payload("smallsession", first, len(first.body))
        with pytest.raises(SessionFull) as full:
            await forwarded.append_payload("smallsession", _payload(2), len(first.body))
        assert (full.value.stored_bytes, full.value.limit) == (len(first.body), len(first.body))


@pytest.mark.anyio
async def test_a_primary_that_goes_fails_waiting_writes_and_stops_the_acceptor(
    tmp_path: Path, backend: str
) -> None:
    async with _primary_and_acceptor(tmp_path, backend) as (primary, _, forwarded, service, lost):
        await forwarded.initialize_session(NewSession("orphaned01", 1, 1_000))
        # Hold the primary's writer, so that the next push waits in it, then close the
        # service under it: the push is answered (StoreUnavailable), not left waiting.
        hold = threading.Event()

        def held(_conn: object) -> None:
            hold.wait(10)

        blocker = primary.engine.write(held)
        waiting = asyncio.create_task(forwarded.append_payload("orphaned01", _payload(1)))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await service.stop()  # what the acceptor sees when the primary's process dies
        with pytest.raises(StoreUnavailable, match="writer has gone"):
            await asyncio.wait_for(waiting, 5)
        assert lost == ["lost"]
        with pytest.raises(StoreUnavailable):
            await forwarded.add_feedback("orphaned01", Feedback("x", 1), 1)
        hold.set()
        await blocker


# -- through footlight serve --------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _server_pids(server: Server) -> list[int]:
    """The server processes under `footlight serve` (multiprocessing's own helper aside)."""
    pids = []
    for child in _children(server.process.pid):
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"resource_tracker" not in cmdline:
            pids.append(child)
    return pids


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _pushes_over_new_connections(server: Server, secure_id: str, ids: range) -> list[int]:
    """Each push on a connection of its own; the payload ids acknowledged."""
    data = compress(make_payload())
    acknowledged = []
    for payload_id in ids:
        with client_of(server) as client:
            response = push(client, secure_id, payload_id, data)
        if response.status_code == 200 and "errors" not in response.json():
            acknowledged.append(payload_id)
    return acknowledged


def test_several_processes_store_each_acknowledged_push_once_and_all_answer(
    tmp_path: Path, backend: str
) -> None:
    server = start_server(tmp_path / "data", {"FOOTLIGHT_WORKERS": "3"}, backend=backend)
    try:
        pids = _server_pids(server)
        assert len(pids) == 3, pids
        with client_of(server) as client:
            secure_id = init_session(client)
        before = {pid: _cpu_seconds(pid) for pid in pids}
        acknowledged = _pushes_over_new_connections(server, secure_id, range(1, 301))
        assert acknowledged == list(range(1, 301))
        stored = db_rows(
            server.data_dir,
            "SELECT p.payload_id FROM payloads p JOIN sessions s ON s.id = p.session_id"
            " WHERE s.secure_id = ? ORDER BY p.payload_id",
            (secure_id,),
        )
        assert [row[0] for row in stored] == acknowledged
        # Every process worked for the load: the kernel spread the connections.
        busy = {pid: _cpu_seconds(pid) - before[pid] for pid in pids}
        assert min(busy.values()) > 0.2 * max(busy.values()), busy

        # The same refusal, whichever process answers it.
        answers = set()
        for _ in range(30):
            with client_of(server) as client:
                answers.add(push(client, "NoSuchSession0001", 1, compress(make_payload())).content)
        assert len(answers) == 1, answers
        assert b"NOT_FOUND" in answers.pop()
    finally:
        server.stop()


def test_a_killed_primary_comes_back_with_its_acceptors(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", {"FOOTLIGHT_WORKERS": "2"})
    try:
        with client_of(server) as client:
            secure_id = init_session(client)
        assert _pushes_over_new_connections(server, secure_id, range(1, 21)) == list(range(1, 21))
        first = set(_server_pids(server))
        primary = min(first)  # started first
        os.kill(primary, signal.SIGKILL)
        _wait_for(
            lambda: len(set(_server_pids(server)) - first) == 2,
            30,
            "the primary and its acceptor were not both started again",
        )

        def answering() -> bool:
            try:
                return _pushes_over_new_connections(server, secure_id, range(21, 22)) == [21]
            except httpx.TransportError:
                return False

        _wait_for(answering, 30, "footlight serve did not answer pushes again")
        assert _pushes_over_new_connections(server, secure_id, range(22, 41)) == list(range(22, 41))
        (stored,) = db_rows(
            server.data_dir,
            "SELECT count(*) FROM payloads p JOIN sessions s ON s.id = p.session_id"
            " WHERE s.secure_id = ?",
            (secure_id,),
        )
        assert stored[0] == 40
        assert "the primary exited" in server.log()
    finally:
        server.stop()
    assert server.process.returncode == 0


def test_stopping_serve_stops_every_process(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", {"FOOTLIGHT_WORKERS": "2"})
    pids = _server_pids(server)
    assert len(pids) == 2
    server.stop()
    for pid in pids:
        assert (
            not Path(f"/proc/{pid}").exists()
            or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
        )
