"""The embedded default store: SQLite (WAL, synchronous=FULL, group commit) under the data dir."""

from __future__ import annotations

from pathlib import Path

from footlight.store.base import ProcessingTiming
from footlight.store.sql.engine import DEFAULT_GATHER_FROM
from footlight.store.sql.store import SQLStore
from footlight.store.sqlite.engine import DB_FILE, SQLiteEngine, migrations

__all__ = ["DB_FILE", "SQLiteEngine", "SQLiteStore", "migrations"]


class SQLiteStore(SQLStore):
    """The store in `footlight.db` under `data_dir`."""

    def __init__(
        self,
        data_dir: Path,
        timing: ProcessingTiming | None = None,
        read_timeout: float | None = None,
        commit_gather_seconds: float | None = None,
        commit_gather_from: int = DEFAULT_GATHER_FROM,
    ) -> None:
        engine = SQLiteEngine(data_dir, read_timeout, commit_gather_seconds, commit_gather_from)
        super().__init__(engine, timing)
        self.data_dir = data_dir
        self.path = engine.path
