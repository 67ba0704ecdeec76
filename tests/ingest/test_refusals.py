"""Refusal counts (footlight.ingest.refusals), written to a real SQLite store.

Proven here: counts a write could not store (the store closed under it) are written by the
next write, added to what was refused meanwhile, first and last times kept; what they give
back stays under the bound on projects this server lacks; the last write (at shutdown) that
fails loses its counts and says so.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from footlight.ingest.refusals import RefusalCounter
from footlight.store.base import UNKNOWN_PROJECT, IntakeRefusal
from footlight.store.sqlite import SQLiteStore
from tests.helpers.store import using

PROJECT = "1jdkoe52"
CODE = "BAD_USER_INPUT"


async def closed_store(path: Path) -> SQLiteStore:
    """A real store that refuses every write: opened (migrated), then closed."""
    store = SQLiteStore(path)
    await store.open()
    await store.close()
    return store


async def flush_into_closed(counter: RefusalCounter, path: Path, last: bool = False) -> None:
    """A flush whose write fails: the store at `path` is closed."""
    await counter.flush(await closed_store(path), keep=100, last=last)


async def flush_into(counter: RefusalCounter, path: Path) -> None:
    """A flush into the (open) store at `path`."""

    async def flush(store: SQLiteStore) -> None:
        await counter.flush(store, keep=100)

    await using(SQLiteStore(path), flush)


async def stored(path: Path) -> dict[tuple[str, str], IntakeRefusal]:
    async def read(store: SQLiteStore) -> dict[tuple[str, str], IntakeRefusal]:
        rows = [
            *await store.refusals([PROJECT], 100),
            *await store.refusals(None, 100),
        ]
        return {(r.project, r.code): r for r in rows}

    return await using(SQLiteStore(path), read)


@pytest.mark.anyio
async def test_counts_a_failed_write_took_are_written_by_the_next(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    counter = RefusalCounter(max_kinds=10)
    counter.note(PROJECT, CODE, "data is not valid base64")
    counter.note_unknown("nope", "no project nope")
    with caplog.at_level(logging.WARNING, "footlight.ingest"):
        await flush_into_closed(counter, tmp_path)
    assert "could not record 2 kinds of refused requests (kept for the next try)" in caplog.text
    assert await stored(tmp_path) == {}

    counter.note(PROJECT, CODE, "data is not valid gzip data")  # refused meanwhile
    await flush_into(counter, tmp_path)
    rows = await stored(tmp_path)
    assert {key: r.count for key, r in rows.items()} == {
        (PROJECT, CODE): 2,
        ("nope", UNKNOWN_PROJECT): 1,
    }
    ours = rows[(PROJECT, CODE)]
    assert ours.example == "data is not valid gzip data"  # the newer one
    assert ours.first_at <= ours.last_at
    assert counter.take() == []  # nothing left over, nothing counted twice


@pytest.mark.anyio
async def test_counts_given_back_stay_under_the_bound_on_unknown_projects(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    counter = RefusalCounter(max_kinds=2)
    counter.note_unknown("first", "no project first")
    counter.note_unknown("second", "no project second")
    await flush_into_closed(counter, tmp_path)
    counter.note_unknown("third", "no project third")  # over the bound again: not counted
    counter.note(PROJECT, CODE, "refused")  # a real project's count is never crowded out
    with caplog.at_level(logging.WARNING, "footlight.ingest"):
        await flush_into(counter, tmp_path)
    assert "1 requests naming unknown projects were not counted" in caplog.text
    assert {key: r.count for key, r in (await stored(tmp_path)).items()} == {
        ("first", UNKNOWN_PROJECT): 1,
        ("second", UNKNOWN_PROJECT): 1,
        (PROJECT, CODE): 1,
    }


@pytest.mark.anyio
async def test_the_last_write_that_fails_says_its_counts_are_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    counter = RefusalCounter(max_kinds=10)
    counter.note(PROJECT, CODE, "refused")
    with caplog.at_level(logging.WARNING, "footlight.ingest"):
        await flush_into_closed(counter, tmp_path, last=True)
    assert "could not record 1 kinds of refused requests (lost)" in caplog.text
    assert counter.take() == []
