"""The SQLite and PostgreSQL schemas agree: the twin migrations, applied by footlight itself.

The migrations of the two engines are written by hand, side by side. Here a fresh store of
each engine is opened (which migrates it), both schemas are read back from the engines'
catalogs, and compared: tables, columns (type through `SAME_TYPE`, NOT NULL, default),
primary keys, UNIQUE constraints, foreign keys, indexes (columns, uniqueness, partial-index
predicate) and the migrations recorded. What differs on purpose is in `DELIBERATE`, each
with its reason; everything else that differs fails the test, naming the table, the column
or index, and what each engine has. The comparer is shown, on schemas written out as data,
to name exactly what differs: a changed column type and a missing index, and each other kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

from footlight.store import SQLiteStore, SQLStore
from footlight.store import postgres as postgres_store
from footlight.store import sqlite as sqlite_store
from footlight.store.postgres import PostgresStore
from tests.helpers.store import BACKENDS, fresh_database

T = TypeVar("T")

SAME_TYPE = {
    # SQLite's declared type (as the migration spells it), PostgreSQL's type (as
    # information_schema names it). SQLite's INTEGER is 64 bits, so PostgreSQL's 32-bit
    # `integer` is not its twin.
    ("INTEGER", "bigint"),
    ("BIGINT", "bigint"),
    ("TEXT", "text"),
    ("BLOB", "bytea"),
    ("REAL", "double precision"),
}

DELIBERATE = {
    "projects.retention_days: type INTEGER on SQLite, integer on PostgreSQL": (
        "both twins say INTEGER, 32 bits to PostgreSQL; enough, as the CLI (the only way to"
        " set it) refuses more than MAX_RETENTION_DAYS (36,500)"
    ),
    "schema_migrations.version: type INTEGER on SQLite, integer on PostgreSQL": (
        "made by each engine's migrate(), not a migration; a migration number stays small"
    ),
    "heartbeat.id: type INTEGER on SQLite, integer on PostgreSQL": (
        "both twins say INTEGER, 32 bits to PostgreSQL; the table's one row has id 1 (CHECK)"
    ),
    "project_keys.key: nullable on SQLite, NOT NULL on PostgreSQL": (
        "SQLite lets NULL into a PRIMARY KEY column of a rowid table unless it says NOT NULL"
        " (a compatibility quirk); footlight always writes a key, and adding NOT NULL would"
        " mean rebuilding the table"
    ),
    "ui_sessions.id_hash: nullable on SQLite, NOT NULL on PostgreSQL": (
        "the same SQLite quirk; the id hash is always written"
    ),
    "payloads: primary key (seq) on SQLite, () on PostgreSQL": (
        "PostgreSQL keeps payloads in monthly partitions (migration 12), whose keys must"
        " include the partition key, which rows written straight into the database may lack;"
        " `seq` comes from a sequence there, found by the index payloads_seq"
    ),
    "payloads.seq: default none on SQLite, nextval('payloads_seq_v12') on PostgreSQL": (
        "the partitioned table's sequence; SQLite's rowid numbers the rows"
    ),
    "index payloads_seq: only on PostgreSQL (on payloads (seq))": (
        "SQLite's `seq` is the rowid, its own index"
    ),
    "index payloads_once: UNIQUE on payloads (session_id, payload_id, digest) on SQLite,"
    " UNIQUE on payloads (session_id, payload_id, digest, session_created_at) on PostgreSQL": (
        "a partitioned table's unique key includes the partition key; `session_created_at`"
        " follows from `session_id`, so it finds the same duplicates"
    ),
}
"""Differences (as `differences` words them) that are meant, with why. An entry no longer
seen fails the test too, so this list stays true."""


@dataclass(frozen=True)
class Column:
    type: str
    """The type as the engine reports it: SQLite's declared type, PostgreSQL's type name."""
    not_null: bool
    """Whether the engine refuses NULL here (not only whether NOT NULL is written)."""
    default: str | None = None


@dataclass(frozen=True)
class ForeignKey:
    table: str
    columns: tuple[str, ...]
    on_delete: str
    """As SQLite words it: NO ACTION, RESTRICT, CASCADE, SET NULL or SET DEFAULT."""

    def __str__(self) -> str:
        return f"REFERENCES {self.table}({', '.join(self.columns)}) ON DELETE {self.on_delete}"


@dataclass(frozen=True)
class Table:
    columns: dict[str, Column]
    primary_key: tuple[str, ...] = ()
    unique: frozenset[tuple[str, ...]] = frozenset()
    """Column lists of the table's UNIQUE constraints (not of its unique indexes)."""
    foreign_keys: dict[tuple[str, ...], ForeignKey] = field(default_factory=dict)


@dataclass(frozen=True)
class Index:
    """A named index (CREATE INDEX), not one that only backs a constraint."""

    table: str
    columns: tuple[str, ...]
    unique: bool = False
    predicate: str | None = None
    """The WHERE of a partial index, lower case, without brackets and quotes: each engine
    writes it back in its own way (PostgreSQL brackets every term)."""

    def __str__(self) -> str:
        unique = "UNIQUE " if self.unique else ""
        where = f" WHERE {self.predicate}" if self.predicate else ""
        return f"{unique}on {self.table} ({', '.join(self.columns)}){where}"


@dataclass(frozen=True)
class Schema:
    tables: dict[str, Table]
    indexes: dict[str, Index]
    migrations: tuple[tuple[int, str], ...]
    """(version, name) of each migration the store records as applied."""


def predicate(text: str | None) -> str | None:
    if text is None:
        return None
    return " ".join(re.sub(r'[()"]', " ", text).lower().split())


def columns_text(columns: tuple[str, ...]) -> str:
    return f"({', '.join(columns)})"


# -- comparing ----------------------------------------------------------------------------------


def differences(sqlite: Schema, postgres: Schema) -> list[str]:
    """Every way the two schemas disagree, one sentence each, SQLite's side first."""
    found = only_on_one_side("table", sqlite.tables, postgres.tables)
    for name in sorted(sqlite.tables.keys() & postgres.tables.keys()):
        found += table_differences(name, sqlite.tables[name], postgres.tables[name])
    found += only_on_one_side(
        "index", sqlite.indexes, postgres.indexes, describe=lambda index: f" ({index})"
    )
    for name in sorted(sqlite.indexes.keys() & postgres.indexes.keys()):
        if sqlite.indexes[name] != postgres.indexes[name]:
            found.append(
                f"index {name}: {sqlite.indexes[name]} on SQLite,"
                f" {postgres.indexes[name]} on PostgreSQL"
            )
    for version, name in sorted(set(sqlite.migrations) ^ set(postgres.migrations)):
        side = "SQLite" if (version, name) in sqlite.migrations else "PostgreSQL"
        found.append(f"migration {version} {name}: only on {side}")
    return found


def table_differences(name: str, sqlite: Table, postgres: Table) -> list[str]:
    found = only_on_one_side(f"{name}.", sqlite.columns, postgres.columns, separator="")
    for column in sorted(sqlite.columns.keys() & postgres.columns.keys()):
        found += column_differences(
            f"{name}.{column}", sqlite.columns[column], postgres.columns[column]
        )
    if sqlite.primary_key != postgres.primary_key:
        found.append(
            f"{name}: primary key {columns_text(sqlite.primary_key)} on SQLite,"
            f" {columns_text(postgres.primary_key)} on PostgreSQL"
        )
    for columns in sorted(sqlite.unique - postgres.unique):
        found.append(f"{name}: unique {columns_text(columns)} only on SQLite")
    for columns in sorted(postgres.unique - sqlite.unique):
        found.append(f"{name}: unique {columns_text(columns)} only on PostgreSQL")
    for columns in sorted(sqlite.foreign_keys.keys() | postgres.foreign_keys.keys()):
        on_sqlite = sqlite.foreign_keys.get(columns)
        on_postgres = postgres.foreign_keys.get(columns)
        if on_sqlite != on_postgres:
            found.append(
                f"{name}: foreign key {columns_text(columns)} {on_sqlite or 'absent'} on"
                f" SQLite, {on_postgres or 'absent'} on PostgreSQL"
            )
    return found


def column_differences(where: str, sqlite: Column, postgres: Column) -> list[str]:
    found = []
    if (sqlite.type, postgres.type) not in SAME_TYPE:
        found.append(f"{where}: type {sqlite.type} on SQLite, {postgres.type} on PostgreSQL")
    if sqlite.not_null != postgres.not_null:
        found.append(
            f"{where}: {nullability(sqlite.not_null)} on SQLite,"
            f" {nullability(postgres.not_null)} on PostgreSQL"
        )
    if sqlite.default != postgres.default:
        found.append(
            f"{where}: default {sqlite.default or 'none'} on SQLite,"
            f" {postgres.default or 'none'} on PostgreSQL"
        )
    return found


def nullability(not_null: bool) -> str:
    return "NOT NULL" if not_null else "nullable"


def only_on_one_side(
    what: str,
    sqlite: Mapping[str, T],
    postgres: Mapping[str, T],
    *,
    describe: Callable[[T], str] = lambda _thing: "",
    separator: str = " ",
) -> list[str]:
    """The names only one engine has, each as "<what> <name>: only on <engine>"."""
    return [
        f"{what}{separator}{name}: only on {engine}{describe(things[name])}"
        for engine, things, others in (
            ("SQLite", sqlite, postgres),
            ("PostgreSQL", postgres, sqlite),
        )
        for name in sorted(things.keys() - others.keys())
    ]


# -- reading SQLite's schema --------------------------------------------------------------------


def sqlite_schema(path: Path) -> Schema:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        tables = {
            name: sqlite_table(db, name, sql)
            for name, sql in db.execute(
                "SELECT name, sql FROM sqlite_master"
                " WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        indexes = {
            name: sqlite_index(db, table, name, bool(unique))
            for table in tables
            for name, unique, origin in db.execute(
                'SELECT name, "unique", origin FROM pragma_index_list(?)', (table,)
            )
            if origin == "c"
        }
        migrations = db.execute("SELECT version, name FROM schema_migrations ORDER BY version")
        return Schema(tables, indexes, tuple(migrations))


def sqlite_table(db: sqlite3.Connection, name: str, sql: str) -> Table:
    primary_key = sqlite_primary_key(db, name)
    without_rowid = bool(re.search(r"\bWITHOUT\s+ROWID\s*$", sql, re.IGNORECASE))
    rowid_alias = primary_key[0] if len(primary_key) == 1 and not without_rowid else None
    columns = {}
    for column, declared, not_null, default in db.execute(
        'SELECT name, type, "notnull", dflt_value FROM pragma_table_info(?)', (name,)
    ):
        # What SQLite refuses beyond a written NOT NULL: NULL given for an INTEGER PRIMARY
        # KEY (the rowid) means "the next one", and a WITHOUT ROWID table's key refuses it.
        # The key of any other table takes NULL unless it says NOT NULL.
        refuses_null = (
            bool(not_null)
            or (without_rowid and column in primary_key)
            or (column == rowid_alias and declared.upper() == "INTEGER")
        )
        columns[column] = Column(declared, refuses_null, default)
    unique = frozenset(
        sqlite_index_columns(db, index)
        for (index,) in db.execute(
            "SELECT name FROM pragma_index_list(?) WHERE origin = 'u'", (name,)
        )
    )
    return Table(columns, primary_key, unique, sqlite_foreign_keys(db, name))


def sqlite_primary_key(db: sqlite3.Connection, table: str) -> tuple[str, ...]:
    rows = db.execute("SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", (table,))
    return tuple(name for (name,) in rows)


def sqlite_foreign_keys(db: sqlite3.Connection, table: str) -> dict[tuple[str, ...], ForeignKey]:
    parts: dict[int, list[tuple[str, str, str | None, str]]] = {}
    for key, parent, column, parent_column, on_delete in db.execute(
        'SELECT id, "table", "from", "to", on_delete FROM pragma_foreign_key_list(?)'
        " ORDER BY id, seq",
        (table,),
    ):
        parts.setdefault(key, []).append((parent, column, parent_column, on_delete))
    keys = {}
    for columns in parts.values():
        parent, _column, named, on_delete = columns[0]
        # A reference naming no column is to the parent's primary key.
        parent_columns = (
            tuple(str(c[2]) for c in columns) if named else sqlite_primary_key(db, parent)
        )
        keys[tuple(c[1] for c in columns)] = ForeignKey(parent, parent_columns, on_delete)
    return keys


def sqlite_index_columns(db: sqlite3.Connection, index: str) -> tuple[str, ...]:
    rows = db.execute("SELECT name FROM pragma_index_info(?) ORDER BY seqno", (index,))
    return tuple(name or "<expression>" for (name,) in rows)


def sqlite_index(db: sqlite3.Connection, table: str, name: str, unique: bool) -> Index:
    row = db.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (name,))
    (sql,) = row.fetchone()
    where = re.split(r"\bWHERE\b", sql, maxsplit=1, flags=re.IGNORECASE)
    return Index(
        table,
        sqlite_index_columns(db, name),
        unique,
        predicate(where[1]) if len(where) == 2 else None,
    )


# -- reading PostgreSQL's schema ----------------------------------------------------------------

ON_DELETE = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
"""pg_constraint.confdeltype, in SQLite's words."""

CONSTRAINTS = """
SELECT t.relname, c.contype,
    ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.n),
    f.relname,
    ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum ORDER BY k.n),
    c.confdeltype
FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
LEFT JOIN pg_class f ON f.oid = c.confrelid
WHERE t.relnamespace = current_schema()::regnamespace AND c.contype IN ('p', 'u', 'f')
    AND NOT t.relispartition
"""
"""Each table's primary key, UNIQUE constraints and foreign keys, columns in key order."""

INDEXES = """
SELECT ic.relname, tc.relname, i.indisunique, pg_get_expr(i.indpred, i.indrelid),
    ARRAY(SELECT coalesce(a.attname::text, '<expression>')
          FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
          LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
          WHERE k.n <= i.indnkeyatts ORDER BY k.n)
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class tc ON tc.oid = i.indrelid
WHERE tc.relnamespace = current_schema()::regnamespace AND NOT tc.relispartition
    AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid
                    AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x'))
"""
"""The named indexes: one made for a PRIMARY KEY or UNIQUE constraint is that constraint."""


def postgres_schema(url: str) -> Schema:
    with psycopg.connect(url, autocommit=True) as db:
        columns: dict[str, dict[str, Column]] = {
            table: {}
            for (table,) in db.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
                # A partition is part of its table (payloads' months), not a table of its own.
                " AND table_name NOT IN (SELECT relname FROM pg_class WHERE relispartition)"
            )
        }
        for table, column, data_type, not_null, default in db.execute(
            "SELECT table_name, column_name, data_type, is_nullable = 'NO', column_default"
            " FROM information_schema.columns WHERE table_schema = current_schema()"
        ):
            if table in columns:
                columns[table][column] = Column(data_type, not_null, without_casts(default))
        constraints = db.execute(CONSTRAINTS).fetchall()
        indexes = {
            name: Index(table, tuple(keys), unique, predicate(where))
            for name, table, unique, where, keys in db.execute(INDEXES)
        }
        migrations = db.execute("SELECT version, name FROM schema_migrations ORDER BY version")
        return Schema(
            {
                table: postgres_table(table, table_columns, constraints)
                for table, table_columns in columns.items()
            },
            indexes,
            tuple((version, name) for version, name in migrations),
        )


def postgres_table(
    name: str, columns: dict[str, Column], constraints: list[tuple[Any, ...]]
) -> Table:
    primary_key: tuple[str, ...] = ()
    unique = set()
    foreign_keys = {}
    for table, kind, keys, parent, parent_keys, on_delete in constraints:
        if table != name:
            continue
        if kind == "p":
            primary_key = tuple(keys)
        elif kind == "u":
            unique.add(tuple(keys))
        else:
            foreign_keys[tuple(keys)] = ForeignKey(parent, tuple(parent_keys), ON_DELETE[on_delete])
    return Table(columns, primary_key, frozenset(unique), foreign_keys)


def without_casts(default: str | None) -> str | None:
    """A column default without PostgreSQL's casts: 'read'::text is SQLite's 'read'."""
    return None if default is None else re.sub(r"::[a-z ]+(\[\])?", "", default)


# -- the schemas footlight makes ----------------------------------------------------------------

postgres_only = pytest.mark.skipif(
    "postgresql" not in BACKENDS, reason="PostgreSQL is not among FOOTLIGHT_TEST_BACKENDS"
)


def migrated(store: SQLStore) -> None:
    """Open `store` (which applies its migrations) and close it, as `footlight migrate` does."""

    async def open_and_close() -> None:
        await store.open()
        await store.close()

    asyncio.run(open_and_close())


@postgres_only
def test_a_fresh_sqlite_store_and_a_fresh_postgres_database_have_the_same_schema(
    tmp_path: Path,
) -> None:
    url = fresh_database()
    migrated(SQLiteStore(tmp_path))
    migrated(PostgresStore(url))

    on_sqlite = sqlite_schema(tmp_path / sqlite_store.DB_FILE)
    on_postgres = postgres_schema(url)

    # Each store applied every migration its engine ships: the schema versions are the same
    # when no migration is only on one side (below).
    assert len(on_sqlite.migrations) == len(sqlite_store.migrations())
    assert len(on_postgres.migrations) == len(postgres_store.migrations())
    # The catalogs were read, partial-index predicates too: two empty readings would agree.
    trace_index = Index("errors", ("trace_id",), predicate="trace_id is not null")
    assert on_sqlite.indexes["errors_by_trace"] == trace_index
    assert on_postgres.indexes["errors_by_trace"] == trace_index
    found = differences(on_sqlite, on_postgres)
    unexpected = [d for d in found if d not in DELIBERATE]
    assert not unexpected, "the schemas differ:\n" + "\n".join(unexpected)
    gone = [d for d in DELIBERATE if d not in found]
    assert not gone, "no longer different, take off DELIBERATE:\n" + "\n".join(gone)


# -- the comparer ------------------------------------------------------------------------------


def twin_schemas() -> tuple[Schema, Schema]:
    """A small schema as each engine would report it, agreeing everywhere."""
    sqlite = Schema(
        tables={
            "projects": Table(
                {"id": Column("INTEGER", True), "name": Column("TEXT", True)}, ("id",)
            ),
            "sessions": Table(
                {
                    "id": Column("INTEGER", True),
                    "project_id": Column("INTEGER", True),
                    "digest": Column("BLOB", False),
                },
                ("id",),
                frozenset({("project_id", "digest")}),
                {("project_id",): ForeignKey("projects", ("id",), "CASCADE")},
            ),
        },
        indexes={"projects_by_name": Index("projects", ("name",), predicate="name is not null")},
        migrations=((1, "0001_initial"),),
    )
    postgres = Schema(
        tables={
            "projects": Table(
                {"id": Column("bigint", True), "name": Column("text", True)}, ("id",)
            ),
            "sessions": Table(
                {
                    "id": Column("bigint", True),
                    "project_id": Column("bigint", True),
                    "digest": Column("bytea", False),
                },
                ("id",),
                frozenset({("project_id", "digest")}),
                {("project_id",): ForeignKey("projects", ("id",), "CASCADE")},
            ),
        },
        indexes={"projects_by_name": Index("projects", ("name",), predicate="name is not null")},
        migrations=((1, "0001_initial"),),
    )
    return sqlite, postgres


def test_twin_schemas_have_no_difference() -> None:
    assert differences(*twin_schemas()) == []


def test_the_comparer_names_a_changed_column_type_and_a_missing_index() -> None:
    sqlite, postgres = twin_schemas()
    projects = postgres.tables["projects"]
    changed = Table({**projects.columns, "name": Column("bytea", True)}, projects.primary_key)

    found = differences(
        sqlite, Schema({**postgres.tables, "projects": changed}, {}, postgres.migrations)
    )

    assert found == [
        "projects.name: type TEXT on SQLite, bytea on PostgreSQL",
        "index projects_by_name: only on SQLite (on projects (name) WHERE name is not null)",
    ]


def test_the_comparer_names_each_other_kind_of_difference() -> None:
    sqlite, postgres = twin_schemas()
    different = Schema(
        tables={
            "projects": postgres.tables["projects"],
            "sessions": Table(
                {
                    "id": Column("bigint", True),
                    "project_id": Column("bigint", True, "0"),
                    "digest": Column("bytea", True),
                    "secure_id": Column("text", True),
                },
                ("id", "project_id"),
                frozenset({("digest",)}),
                {("project_id",): ForeignKey("projects", ("id",), "NO ACTION")},
            ),
            "heartbeat": Table({"at": Column("bigint", True)}),
        },
        indexes={"projects_by_name": Index("projects", ("name",), unique=True)},
        migrations=((1, "0001_initial"), (2, "0002_more")),
    )

    assert differences(sqlite, different) == [
        "table heartbeat: only on PostgreSQL",
        "sessions.secure_id: only on PostgreSQL",
        "sessions.digest: nullable on SQLite, NOT NULL on PostgreSQL",
        "sessions.project_id: default none on SQLite, 0 on PostgreSQL",
        "sessions: primary key (id) on SQLite, (id, project_id) on PostgreSQL",
        "sessions: unique (project_id, digest) only on SQLite",
        "sessions: unique (digest) only on PostgreSQL",
        "sessions: foreign key (project_id) REFERENCES projects(id) ON DELETE CASCADE on"
        " SQLite, REFERENCES projects(id) ON DELETE NO ACTION on PostgreSQL",
        "index projects_by_name: on projects (name) WHERE name is not null on SQLite,"
        " UNIQUE on projects (name) on PostgreSQL",
        "migration 2 0002_more: only on PostgreSQL",
    ]
