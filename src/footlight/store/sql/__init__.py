"""The store's logic in SQL that both backends run (SQLite embedded, PostgreSQL at scale)."""

from footlight.store.sql.store import SQLStore

__all__ = ["SQLStore"]
