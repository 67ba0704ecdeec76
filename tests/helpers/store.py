"""Opening the stores test servers use, beside them, as the CLI or an operator would; and
fresh PostgreSQL databases for servers and store tests.

The store is the embedded SQLite one or, for the same tests, a fresh database on the local
PostgreSQL (127.0.0.1:5432, database `test` to create them from). `FOOTLIGHT_TEST_BACKENDS=sqlite`
(or `postgresql`) narrows the backends for a quick local run.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
import psycopg
import pytest

from footlight.core.payload import PayloadSummary
from footlight.store import IncomingPayload, Project, SessionRecord, SQLiteStore, SQLStore
from footlight.store.postgres import PostgresStore
from footlight.store.postgres.engine import PostgresConnection
from footlight.store.sqlite.engine import SQLiteConnection
from tests.helpers.inspection import session_record

if TYPE_CHECKING:
    from tests.helpers.servers import Server

T = TypeVar("T")
S = TypeVar("S", bound=SQLStore)
POSTGRES = os.environ.get("FOOTLIGHT_TEST_POSTGRES", "postgresql://127.0.0.1:5432/test")
BACKENDS = [
    b.strip() for b in os.environ.get("FOOTLIGHT_TEST_BACKENDS", "sqlite,postgresql").split(",")
]

# Which PostgreSQL database each test server's data directory stands for (PostgreSQL servers
# have one too, for their log); a directory not named here holds a SQLite store.
_POSTGRES_OF: dict[Path, str] = {}
_CREATED: list[str] = []


def fresh_database(template: str | None = None) -> str:
    """A new PostgreSQL database (empty, or a copy of the database `template` names); its URL.
    It is dropped by `drop_fresh_databases` when the test run ends."""
    name = f"footlight_test_{os.urandom(6).hex()}"
    copy_of = "" if template is None else f' TEMPLATE "{database_name(template)}"'
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"{copy_of}')
    _CREATED.append(name)
    return database_url(name)


def database_url(name: str) -> str:
    return POSTGRES.rsplit("/", 1)[0] + f"/{name}"


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def drop_databases(names: Sequence[str]) -> None:
    if not names:
        return
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_fresh_databases() -> None:
    """Drop every database `fresh_database` made in this process."""
    drop_databases(_CREATED)
    _CREATED.clear()


def postgres_of(data_dir: Path) -> str | None:
    """The PostgreSQL database of the server on this data directory; None for SQLite."""
    return _POSTGRES_OF.get(data_dir.resolve())


def keep_postgres_of(data_dir: Path, url: str) -> None:
    _POSTGRES_OF[data_dir.resolve()] = url


def store_of(data_dir: Path) -> SQLStore:
    """The store a test server with this data directory uses (not opened)."""
    url = postgres_of(data_dir)
    return SQLiteStore(data_dir) if url is None else PostgresStore(url)


def db_rows(data_dir: Path, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run SQL (with `?` placeholders) on a server's database directly, as an operator could."""
    url = postgres_of(data_dir)
    if url is None:
        with sqlite3.connect(data_dir / "footlight.db") as db:
            return [tuple(row) for row in db.execute(sql, parameters).fetchall()]
    with psycopg.connect(url, autocommit=True) as db:
        cursor = db.execute(sql.replace("?", "%s"), parameters)
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []


async def using(store: S, use: Callable[[S], Awaitable[T]]) -> T:
    """Open `store`, use it, close it."""
    await store.open()
    try:
        return await use(store)
    finally:
        await store.close()


def with_store(data_dir: Path, use: Callable[[SQLStore], Awaitable[T]]) -> T:
    """From synchronous code: open the store a server uses (beside it, as the CLI does), use
    it, close it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(using(store_of(data_dir), use))
    # A loop already runs in this thread (a sync Playwright of a module whose teardown
    # pytest-xdist has not reached yet): the store gets a thread and loop of its own.
    with ThreadPoolExecutor(1, thread_name_prefix="with-store") as pool:
        return pool.submit(asyncio.run, using(store_of(data_dir), use)).result()


def read_session(data_dir: Path, secure_id: str) -> SessionRecord | None:
    return with_store(data_dir, lambda store: session_record(store, secure_id))


def decoded_payloads(record: SessionRecord) -> list[dict[str, Any]]:
    return [msgspec.json.decode(gzip.decompress(p.body)) for p in record.payloads]


def new_project(server: Server, name: str) -> Project:
    return with_store(server.data_dir, lambda store: store.create_project(name))


def recorded_statements(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Sequence[Any]]]:
    """Every statement the store's connections execute from now on (either engine), with
    its parameters, in order."""
    statements: list[tuple[str, Sequence[Any]]] = []
    for connection in (SQLiteConnection, PostgresConnection):

        def record(
            self: Any, sql: str, parameters: Sequence[Any] = (), execute: Any = connection.execute
        ) -> Any:
            statements.append((sql, parameters))
            return execute(self, sql, parameters)

        monkeypatch.setattr(connection, "execute", record)
    return statements


def push_of(payload_id: int, content: bytes, compresslevel: int = 9) -> IncomingPayload:
    """A push of `content` as a store test hands it in: its first 16 bytes are its digest
    (tests choose contents that differ there), one event, received at a fixed time."""
    return IncomingPayload(
        payload_id=payload_id,
        digest=content[:16],
        source="compressed",
        received_at=1_700_000_000_000 + payload_id,
        summary=PayloadSummary(1, 1, 1, False),
        body=gzip.compress(content, mtime=0, compresslevel=compresslevel),
    )
