"""`footlight status`, `/ui/status` and `footlight purge`: what the store holds per project in
numbers a person can act on, what retention would free, and a purge that frees it, beside a
running server, on both backends."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from footlight.core.ids import encode_project
from footlight.store import Project
from footlight.ui.format import size
from tests.helpers.cli import footlight, footlight_ok, run_footlight
from tests.helpers.events import T0
from tests.helpers.graphql import init_session, make_payload, meta_event, push
from tests.helpers.servers import Server, client_of, running
from tests.helpers.store import db_rows, new_project
from tests.helpers.ui import new_token, signed_in_client

DAY_MS = 86_400_000
SESSIONS = 12
PUSHES = 3


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[Server]:
    """A server of this module's alone: purges here delete only this module's sessions."""
    with running(tmp_path_factory, "operating", backend) as server:
        yield server


def record_heavy_sessions(
    server: Server, project: Project, count: int, days_ago: int = 0
) -> list[str]:
    """Sessions of ~3 x 100 KB of payloads each that gzip cannot shrink (random text),
    started `days_ago` (made so before their first push: PostgreSQL keeps a session's
    payloads with the month it started, in a partition `footlight migrate` makes)."""
    with client_of(server) as client:
        secure_ids = [init_session(client, project=str(project.id)) for _ in range(count)]
        if days_ago:
            age(server, secure_ids, days_ago)
            footlight_ok(server, "migrate")
        for secure_id in secure_ids:
            for payload_id in range(1, PUSHES + 1):
                noise = base64.b64encode(os.urandom(75_000)).decode()
                custom = {"type": 5, "data": {"tag": "noise", "payload": noise}, "timestamp": T0}
                answer = push(client, secure_id, payload_id, make_payload([meta_event(), custom]))
                assert "errors" not in answer.json(), answer.text
    return secure_ids


def _in(secure_ids: list[str]) -> str:
    """`secure_id IN (?, ...)` for these ids (placeholders only: the ids are parameters)."""
    return f"secure_id IN ({', '.join('?' * len(secure_ids))})"


def age(server: Server, secure_ids: list[str], days: int) -> None:
    db_rows(
        server.data_dir,
        "UPDATE sessions SET created_at = ? WHERE " + _in(secure_ids),  # noqa: S608
        [int(time.time() * 1000) - days * DAY_MS, *secure_ids],
    )


def stored_bytes(server: Server, secure_ids: list[str]) -> int:
    query = (
        "SELECT sum(z.stored_bytes) FROM session_sizes z"  # noqa: S608 - placeholders only
        " JOIN sessions s ON s.id = z.session_id WHERE s." + _in(secure_ids)
    )
    rows = db_rows(server.data_dir, query, secure_ids)
    return int(rows[0][0])


def sessions_of(server: Server, project: Project) -> int:
    rows = db_rows(
        server.data_dir, "SELECT count(*) FROM sessions WHERE project_id = ?", [project.id]
    )
    return int(rows[0][0])


def sqlite_file_size(server: Server) -> int:
    return (server.data_dir / "footlight.db").stat().st_size


def payload_table_bytes(server: Server) -> int:
    """PostgreSQL: the payloads table (its partitions) with their TOAST and indexes."""
    rows = db_rows(
        server.data_dir,
        "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits"
        " WHERE inhparent = 'payloads'::regclass",
    )
    return int(rows[0][0])


def test_status_and_purge_free_what_retention_no_longer_keeps(own_server: Server) -> None:
    project = new_project(own_server, "retained")
    verbose = encode_project(project.id)
    footlight_ok(own_server, "project", "retention", verbose, "30")
    # 70 days: their month ended more than 30 days ago, whatever today's date.
    old = record_heavy_sessions(own_server, project, SESSIONS // 2, days_ago=70)
    kept = record_heavy_sessions(own_server, project, SESSIONS // 2)
    recorded = old + kept
    total, expired = stored_bytes(own_server, recorded), stored_bytes(own_server, old)
    assert expired > 1_000_000  # gzip could not shrink the noise

    shown = footlight_ok(own_server, "status", "--project", verbose).stdout
    assert f"project {project.id} ({verbose}) 'retained'" in shown
    assert f"holds {size(total)} of recordings in {SESSIONS} sessions" in shown
    assert (
        f"{size(expired)} in {len(old)} sessions older than its 30-day retention would be freed"
        " by the next purge" in shown
    )
    assert f"last hour: {len(kept)} sessions started, {SESSIONS * PUSHES} payloads stored" in shown
    document = json.loads(footlight_ok(own_server, "status", "--json").stdout)
    (mine,) = [p for p in document["projects"] if p["project_id"] == project.id]
    assert mine["sessions"] == SESSIONS
    assert mine["payload_bytes"] == total
    assert mine["expired_sessions"] == len(old)
    assert mine["expired_bytes"] == expired
    assert mine["verbose_id"] == verbose
    assert document["footprint"]["used_bytes"] > total

    # With --tables: each table's rows, and what processing derived for each project (the
    # live runs derive each session's page from its first push within a second).
    deadline = time.monotonic() + 15
    while True:
        detailed = json.loads(footlight_ok(own_server, "status", "--tables", "--json").stdout)
        if detailed["derived_rows"].get(str(project.id), 0) >= SESSIONS:
            break
        assert time.monotonic() < deadline, detailed["derived_rows"]
        time.sleep(0.5)
    tables = {t["name"]: t["rows"] for t in detailed["tables"]}
    assert {"payloads", "sessions", "console_messages"} <= tables.keys()
    if own_server.backend == "sqlite":  # exact there; PostgreSQL's are its estimates
        assert tables["payloads"] >= SESSIONS * PUSHES
    text = footlight_ok(own_server, "status", "--tables", "--project", verbose).stdout
    assert re.search(r"derived rows: [1-9][\d,]*", text)
    assert re.search(r"^payloads +[\d,]+", text, re.M)

    if own_server.backend == "postgresql":  # refused before anything is deleted
        refused = footlight(own_server, "purge", "--compact")
        assert refused.returncode == 2
        assert "--compact is for the SQLite store" in refused.stderr
        assert sessions_of(own_server, project) == SESSIONS
    dry = footlight_ok(own_server, "purge", "--dry-run").stdout
    assert f"'retained': {len(old)} sessions ({size(expired)} of recordings) older than 30" in dry
    assert "dry run: nothing deleted" in dry
    assert sessions_of(own_server, project) == SESSIONS

    disk_before = (
        sqlite_file_size(own_server)
        if own_server.backend == "sqlite"
        else payload_table_bytes(own_server)
    )
    purged = footlight_ok(own_server, "purge").stdout
    assert f"deleted {len(old)} sessions ({size(expired)} of recordings)" in purged
    assert re.search(r"gave [1-9][\d.]* MB back to the file system", purged), purged
    assert sessions_of(own_server, project) == len(kept)
    left = "SELECT count(*) FROM sessions WHERE " + _in(old)  # noqa: S608
    gone = db_rows(own_server.data_dir, left, old)
    assert gone == [(0,)]
    after = footlight_ok(own_server, "status", "--project", verbose).stdout
    assert "nothing older than its 30-day retention" in after

    # The disk comes back: on SQLite page by page, once the server's checkpointer has copied
    # the vacuum's commits; on PostgreSQL the month of the old sessions is dropped whole.
    measure = sqlite_file_size if own_server.backend == "sqlite" else payload_table_bytes
    deadline = time.monotonic() + 10
    while measure(own_server) > disk_before - expired // 2:
        assert time.monotonic() < deadline, (
            f"the store takes {measure(own_server)} bytes, {disk_before} before"
            f" {expired} bytes of recordings were purged"
        )
        time.sleep(0.2)


def test_the_status_page_shows_each_project_and_the_store_to_whom_may_see_them(
    own_server: Server,
) -> None:
    first = new_project(own_server, "status-first")
    second = new_project(own_server, "status-second")
    record_heavy_sessions(own_server, first, 1)
    with signed_in_client(own_server, new_token(own_server)) as admin:
        page = html.unescape(admin.get("/ui/status").text)
    assert re.search(r"store: [\d.]+ [kMG]?B on disk", page)
    assert f"project {first.id} ({encode_project(first.id)}) 'status-first'" in page
    assert "of recordings in 1 session," in page
    assert "keeps everything (no retention" in page
    assert "'status-second'" in page
    narrow = new_token(own_server, project=encode_project(second.id))
    with signed_in_client(own_server, narrow) as reader:
        answer = reader.get("/ui/status")
    assert answer.status_code == 200
    seen = html.unescape(answer.text)
    assert "'status-second'" in seen
    assert "holds no sessions" in seen
    assert "'status-first'" not in seen
    assert "on disk" not in seen  # the disk, the queue and the recordings are every project's
    assert "recording now" not in seen


def test_purge_says_what_a_store_without_incremental_vacuum_needs(tmp_path: Path) -> None:
    """A SQLite store made before footlight turned incremental vacuum on keeps its free pages
    until `purge --compact` rewrites it; then later purges give space back by themselves."""
    data_dir = tmp_path / "data"
    made = run_footlight("project", "create", "legacy", "--data-dir", str(data_dir))
    assert made.returncode == 0, made.stderr
    with sqlite3.connect(data_dir / "footlight.db") as db:
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("PRAGMA auto_vacuum=NONE")
        db.execute("VACUUM")  # as a store of an older footlight was: no auto_vacuum
        db.execute("CREATE TABLE filler (x BLOB)")
        db.executemany("INSERT INTO filler VALUES (?)", [(os.urandom(4000),)] * 500)
        db.execute("DROP TABLE filler")  # ~2 MB of free pages inside the file
        assert db.execute("PRAGMA auto_vacuum").fetchone() == (0,)
    plain = run_footlight("purge", "--data-dir", str(data_dir)).stdout
    assert "stays inside the store" in plain
    assert "footlight purge --compact" in plain
    size_before = (data_dir / "footlight.db").stat().st_size
    compacted = run_footlight("purge", "--compact", "--data-dir", str(data_dir))
    assert re.search(r"gave [12] MB back to the file system", compacted.stdout), compacted.stdout
    assert (data_dir / "footlight.db").stat().st_size < size_before - 1_500_000
    with sqlite3.connect(data_dir / "footlight.db") as db:
        assert db.execute("PRAGMA auto_vacuum").fetchone() == (2,)
