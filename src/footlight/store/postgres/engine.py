"""The PostgreSQL engine, for many stateless footlight processes on one database.

Each process writes through one connection with the group commit of
`footlight.store.sql.engine` (commits amortised over everything queued meanwhile) and
reads through a few more; PostgreSQL itself arbitrates between processes. What must hold
across processes is the store's SQL: unique keys make retries and races idempotent
(`ON CONFLICT DO NOTHING`), and processing jobs are claimed with `FOR UPDATE SKIP LOCKED`
and leases, so two processes never run the same job and a dead one's jobs are taken over.

Durability is PostgreSQL's: a COMMIT returns once the WAL is flushed (the server's default
`synchronous_commit=on`). While the database is unreachable every write fails fast with
StoreUnavailable (the edge answers 503 with Retry-After); connections are re-opened as soon
as it is back.

Operator reads (read API, UI) run on connections with `statement_timeout` set to
`read_timeout_seconds`, so PostgreSQL itself stops a statement that runs longer.

Migrations run in one transaction under an advisory lock, so any number of processes may
start (or run `footlight migrate`) at once: one applies them, the others find them applied.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql as pg_sql

from footlight.core.clock import now_ms
from footlight.errors import StoreError, StoreUnavailable
from footlight.store.base import Reclaimed, StoreFootprint, TableSize
from footlight.store.sql.engine import (
    DEFAULT_GATHER_FROM,
    Connection,
    Cursor,
    EngineBase,
    Migration,
    apply_pending,
    shipped_migrations,
)

T = TypeVar("T")
log = logging.getLogger("footlight.store")

# Any fixed numbers: the keys of the advisory locks that serialise migrations, and the
# writes that take `Connection.exclusive`.
_MIGRATION_LOCK = 0x666F6F746C69676874 & 0x7FFFFFFFFFFFFFFF
_EXCLUSIVE_LOCK = _MIGRATION_LOCK + 1
_CONNECT_TIMEOUT_SECONDS = 5
_DDL_LOCK_TIMEOUT = "500ms"
"""Longest a partition's creation or drop waits for its lock on `payloads`: pushes that
arrive meanwhile queue behind it, so it gives up soon and is tried again at the next purge."""

_PARTITIONS = (
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
    " WHERE i.inhparent = 'payloads'::regclass"
)
"""The payloads partitions' names: payloads_YYYY_MM, and payloads_default."""

_MONTHS = """
WITH months AS (
    SELECT DISTINCT date_trunc('month', to_timestamp(created_at / 1000.0)) AS m FROM sessions
    UNION SELECT date_trunc('month', to_timestamp(%s / 1000.0))
    UNION SELECT date_trunc('month', to_timestamp(%s / 1000.0)) + interval '1 month'
)
SELECT 'payloads_' || to_char(m, 'YYYY_MM'), (extract(epoch FROM m) * 1000)::bigint,
    (extract(epoch FROM m + interval '1 month') * 1000)::bigint
FROM months
"""
"""(name, first ms, end ms) of each month a payloads partition is wanted for (in UTC)."""


def _month_end_ms(name: str) -> int | None:
    """When the month of partition `payloads_YYYY_MM` ends (epoch ms); None for another name."""
    match = re.fullmatch(r"payloads_(\d{4})_(\d{2})", name)
    if match is None:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)


class Row:
    """A result row readable by column name and by position, like sqlite3.Row."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: int | str) -> Any:
        return self._values[key if isinstance(key, int) else self._index[key]]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._index)


def _rows(cursor: psycopg.Cursor[Any]) -> Callable[[Sequence[Any]], Row]:
    index = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: Row(values, index)


@lru_cache(maxsize=512)
def _placeholders(sql: str) -> str:
    """The store's `?` placeholders as psycopg's `%s` (a literal `%` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresConnection:
    skip_locked = "FOR UPDATE SKIP LOCKED"
    by_due = ""
    exclusive = f"SELECT pg_advisory_xact_lock({_EXCLUSIVE_LOCK})"

    def __init__(self, raw: psycopg.Connection[Row]) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        return self.raw.execute(_placeholders(sql), parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> Cursor:
        cursor = self.raw.cursor()
        cursor.executemany(_placeholders(sql), list(parameters))
        return cursor

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        with (
            self.raw.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def close(self) -> None:
        self.raw.close()


def redacted(url: str) -> str:
    """The URL without its password, for logs and banners."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    user = f"{parts.username}:***@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}{host}{port}"))


class PostgresBackend:
    name = "PostgreSQL"
    begin = "BEGIN"
    errors: tuple[type[Exception], ...] = (psycopg.Error,)
    # DataError: a value the database cannot hold (a NUL in text, an integer beyond bigint),
    # raised by psycopg before sending or by the server. ProgramLimitExceeded: one it cannot
    # index (a B-tree entry over 2,704 bytes). Both are the input's fault, not the
    # connection's: only that write fails (left to fail the batch, one stranger's value was a
    # 503 for everyone committed with it), and processing records it instead of retrying.
    refusals: tuple[type[Exception], ...] = (
        pg_errors.IntegrityError,
        psycopg.DataError,
        pg_errors.ProgramLimitExceeded,
    )
    retryable: tuple[type[Exception], ...] = (
        pg_errors.DeadlockDetected,
        pg_errors.SerializationFailure,
    )

    def __init__(self, url: str) -> None:
        self.url = url

    def connect(self) -> Connection:
        return PostgresConnection(self._raw())

    def limit_statements(self, conn: Connection, seconds: float) -> None:
        # Whole milliseconds, at least one: 0 would turn the limit off.
        milliseconds = max(1, round(seconds * 1000))
        conn.execute("SELECT set_config('statement_timeout', ?, false)", (f"{milliseconds}",))

    def timed_out(self, exc: Exception) -> bool:
        return isinstance(exc, pg_errors.QueryCanceled)

    def _raw(self) -> psycopg.Connection[Row]:
        return psycopg.connect(
            self.url,
            autocommit=True,
            row_factory=_rows,
            connect_timeout=_CONNECT_TIMEOUT_SECONDS,
            application_name="footlight",
        )


def migrations() -> list[Migration]:
    """(version, name, sql) of every PostgreSQL migration shipped with this version."""
    return shipped_migrations("footlight.store.postgres")


def migrate(conn: PostgresConnection) -> int:
    """Apply pending migrations in one transaction; concurrent callers wait and find them done."""
    raw = conn.raw
    with raw.transaction():
        raw.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        raw.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
        )
        return apply_pending(conn, migrations(), lambda sql: raw.execute(sql.encode()))


class PostgresEngine(EngineBase):
    def __init__(
        self,
        url: str,
        read_timeout: float | None = None,
        gather_seconds: float | None = None,
        gather_from: int = DEFAULT_GATHER_FROM,
    ) -> None:
        self.url = url
        self._pg = PostgresBackend(url)
        super().__init__(self._pg, read_timeout, gather_seconds, gather_from)

    def describe(self) -> str:
        return f"PostgreSQL {redacted(self.url)}"

    def exists(self) -> bool:
        try:
            with self._pg._raw() as raw:
                row = raw.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
                return bool(row and row[0])
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot reach {self.describe()}: {exc}") from exc

    def migrate(self) -> int:
        try:
            conn = PostgresConnection(self._pg._raw())
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot reach {self.describe()}: {exc}") from exc
        try:
            return migrate(conn)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"migrating {self.describe()} failed: {exc}") from exc
        finally:
            conn.close()

    async def open(self) -> None:
        await asyncio.to_thread(self.migrate)
        self.start()
        await self.prepare_partitions(now_ms())

    async def prepare_partitions(self, now: int) -> None:
        """Make the payloads partitions of this month, the next and every month that has
        sessions, where missing (see migration 12). DDL waits at most `_DDL_LOCK_TIMEOUT` for
        its lock, so that it never queues pushes behind a long read; what it could not make
        is tried again at the next purge, and rows meanwhile go to the DEFAULT partition."""

        def prepare() -> None:
            with self._pg._raw() as raw:
                raw.execute("SET TIME ZONE 'UTC'")
                raw.execute(f"SET lock_timeout = '{_DDL_LOCK_TIMEOUT}'")
                existing = {name for (name,) in raw.execute(_PARTITIONS)}
                for name, start, end in raw.execute(_MONTHS, (now, now)).fetchall():
                    if name in existing:
                        continue
                    try:
                        raw.execute(
                            pg_sql.SQL(
                                "CREATE TABLE {} PARTITION OF payloads FOR VALUES FROM ({}) TO ({})"
                            ).format(
                                pg_sql.Identifier(name), pg_sql.Literal(start), pg_sql.Literal(end)
                            )
                        )
                    except psycopg.Error as exc:
                        log.warning("could not make the payloads partition %s: %s", name, exc)

        try:
            await asyncio.to_thread(prepare)
        except psycopg.Error as exc:
            log.warning("could not prepare the payloads partitions: %s", exc)

    async def drop_payloads_before(self, cutoff: int) -> int:
        """Drop the payloads partitions of months that ended at or before `cutoff` (every
        session in them is older than every project's retention); return their bytes."""

        def drop() -> int:
            freed = 0
            with self._pg._raw() as raw:
                raw.execute(f"SET lock_timeout = '{_DDL_LOCK_TIMEOUT}'")
                for (name,) in raw.execute(_PARTITIONS).fetchall():
                    end = _month_end_ms(name)
                    if end is None or end > cutoff:
                        continue
                    size = int(
                        raw.execute(  # type: ignore[index]
                            "SELECT pg_total_relation_size(%s::regclass)", (name,)
                        ).fetchone()[0]
                    )
                    try:
                        raw.execute(pg_sql.SQL("DROP TABLE {}").format(pg_sql.Identifier(name)))
                    except psycopg.Error as exc:
                        log.warning("could not drop the payloads partition %s: %s", name, exc)
                        continue
                    freed += size
            return freed

        try:
            return await asyncio.to_thread(drop)
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"dropping old payloads of {self.describe()} failed: {exc}"
            ) from exc

    def free_disk_bytes(self) -> int | None:
        return None  # the database server's disk, which footlight cannot see

    async def footprint(self, tables: bool) -> StoreFootprint:
        def read(conn: Connection) -> StoreFootprint:
            used = int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])
            sizes: list[TableSize] = []
            if tables:
                sizes = [
                    TableSize(r[0], max(int(r[1]), 0), int(r[2]))
                    for r in conn.execute(
                        "SELECT c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid)"
                        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                        " WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema()"
                        " ORDER BY c.relname"
                    )
                ]
            return StoreFootprint(used, None, None, sizes)

        return await self.read(read)

    async def reclaim(self) -> Reclaimed:
        """VACUUM each of footlight's tables: their dead rows' space is reused, and the empty
        pages at each table's end are given back. It runs beside reads and writes (no table
        lock but another VACUUM's); a table's space in its middle stays the table's."""

        def vacuum() -> int:
            with self._pg._raw() as raw:  # autocommit: VACUUM runs outside transactions
                size = "SELECT pg_database_size(current_database())"
                before = int(raw.execute(size).fetchone()[0])  # type: ignore[index]
                tables = [
                    r[0]
                    for r in raw.execute(
                        "SELECT c.relname FROM pg_class c"
                        " JOIN pg_namespace n ON n.oid = c.relnamespace"
                        " WHERE c.relkind = 'r' AND n.nspname = current_schema()"
                        " ORDER BY c.relname"
                    )
                ]
                for table in tables:
                    raw.execute(pg_sql.SQL("VACUUM {}").format(pg_sql.Identifier(table)))
                return max(before - int(raw.execute(size).fetchone()[0]), 0)  # type: ignore[index]

        try:
            return Reclaimed(await asyncio.to_thread(vacuum))
        except psycopg.Error as exc:
            raise StoreUnavailable(f"VACUUM of {self.describe()} failed: {exc}") from exc

    async def compact(self) -> Reclaimed:
        raise StoreError(
            "compact is for SQLite stores; on PostgreSQL, VACUUM (which `footlight purge` runs)"
            " keeps tables from growing, and VACUUM FULL or pg_repack gives the rest back"
            " (VACUUM FULL locks each table while it runs)"
        )

    async def close(self) -> None:
        await self.stop()
