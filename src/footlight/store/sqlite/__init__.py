"""The embedded default store: SQLite (WAL, synchronous=FULL, group commit) under the data dir."""

from footlight.store.sqlite.engine import DB_FILE, migrations
from footlight.store.sqlite.store import SQLiteStore

__all__ = ["DB_FILE", "SQLiteStore", "migrations"]
