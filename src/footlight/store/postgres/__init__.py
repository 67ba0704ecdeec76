"""The store on PostgreSQL: many stateless footlight processes on one database."""

from __future__ import annotations

from footlight.store.base import ProcessingTiming
from footlight.store.postgres.engine import PostgresEngine, migrations, redacted
from footlight.store.sql.engine import DEFAULT_GATHER_FROM
from footlight.store.sql.store import SQLStore

__all__ = ["PostgresEngine", "PostgresStore", "migrations", "redacted"]


class PostgresStore(SQLStore):
    """The store in the PostgreSQL database at `url` (postgresql://...)."""

    def __init__(
        self,
        url: str,
        timing: ProcessingTiming | None = None,
        read_timeout: float | None = None,
        commit_gather_seconds: float | None = None,
        commit_gather_from: int = DEFAULT_GATHER_FROM,
    ) -> None:
        engine = PostgresEngine(url, read_timeout, commit_gather_seconds, commit_gather_from)
        super().__init__(engine, timing)
        self.url = url
