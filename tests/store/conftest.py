"""Fixtures of the store tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from footlight.store import SQLiteStore, SQLStore
from footlight.store.postgres import PostgresStore
from tests.helpers.store import fresh_database


@pytest.fixture
def new_store(backend: str, tmp_path: Path) -> Callable[..., SQLStore]:
    """Makes a store (not yet opened) on a fresh database of the test's backend, with the
    options both stores take (`timing`, `read_timeout`, `commit_gather_seconds`,
    `commit_gather_from`)."""
    if backend == "sqlite":
        return lambda **options: SQLiteStore(tmp_path, **options)
    url = fresh_database()
    return lambda **options: PostgresStore(url, **options)
