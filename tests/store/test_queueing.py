"""The processing jobs a group commit's writes queue, written at its end (store.sql.queueing).

Proven here, on both engines: for any mix of queueings in one batch (several of one job among
them, onto jobs already queued or not), the rows written at the end of the batch are the rows
the statements run one at a time would have left: the same first-queued time and due time,
and a version that went up. A write that is undone leaves nothing queued.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from footlight.store import SQLStore
from footlight.store.base import JobKind
from footlight.store.sql.engine import Connection
from footlight.store.sql.queueing import Rule
from tests.helpers.store import recorded_statements, using

MAX_DELAY_MS = 300_000
OFFSET = 1_000_000
"""The one-at-a-time statements queue keys this far above the merged ones."""


def one_at_a_time(
    conn: Connection, rule: Rule, kind: JobKind, key: int, now: int, delay: int
) -> None:
    """The statement each queueing ran before they were merged."""
    if rule == "quiet":
        conn.execute(
            "INSERT INTO processing_queue (kind, key, first_enqueued_at, due_at)"
            " VALUES (?, ?, ?, ?)"
            " ON CONFLICT (kind, key) DO UPDATE SET version = processing_queue.version + 1,"
            " due_at = CASE WHEN ? < processing_queue.first_enqueued_at + ? THEN ?"
            " ELSE processing_queue.first_enqueued_at + ? END",
            (kind, key, now, now + delay, now + delay, MAX_DELAY_MS, now + delay, MAX_DELAY_MS),
        )
    else:
        due = now + delay
        conn.execute(
            "INSERT INTO processing_queue (kind, key, first_enqueued_at, due_at)"
            " VALUES (?, ?, ?, ?)"
            " ON CONFLICT (kind, key) DO UPDATE SET version = processing_queue.version + 1,"
            " due_at = CASE WHEN processing_queue.due_at < ? THEN processing_queue.due_at"
            " ELSE ? END",
            (kind, key, now, due, due, due),
        )


def queue_rows(conn: Connection) -> dict[tuple[str, int], tuple[int, int, int]]:
    return {
        (r["kind"], int(r["key"])): (
            int(r["first_enqueued_at"]),
            int(r["due_at"]),
            int(r["version"]),
        )
        for r in conn.execute(
            "SELECT kind, key, first_enqueued_at, due_at, version FROM processing_queue"
        )
    }


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.anyio
async def test_merged_queueings_leave_the_rows_the_statements_one_by_one_leave(
    new_store: Callable[[], SQLStore], seed: int
) -> None:
    draw = random.Random(seed)
    kinds: list[tuple[Rule, JobKind, int]] = [
        ("quiet", "session", 60_000),
        ("quiet", "otlp", 0),
        ("quiet", "backend", 400_000),  # inactivity longer than max_delay_ms: the cap decides
        ("soon", "live", 500),
    ]
    # Keys 1-6 of each; some already queued (a job from an earlier batch), with first-queued
    # times that make the quiet rule's cap bite for some.
    existing = [
        (rule, kind, key, draw.randrange(0, 400_000), draw.choice([1_000, 60_000, 500]))
        for rule, kind, _ in kinds
        for key in range(1, 7)
        if draw.random() < 0.5
    ]
    calls = [
        (rule, kind, draw.randrange(1, 7), 400_000 + draw.randrange(0, 5_000), delay)
        for rule, kind, delay in (draw.choice(kinds) for _ in range(40))
    ]

    async def scenario(store: SQLStore) -> None:
        def before(conn: Connection) -> None:
            for rule, kind, key, now, delay in existing:
                for at in (key, key + OFFSET):
                    one_at_a_time(conn, rule, kind, at, now, delay)

        await store.engine.write(before)
        initial = await store.engine.read(queue_rows)

        def merged(_conn: Connection) -> None:
            for rule, kind, key, now, delay in calls:
                getattr(store.queue_rows, rule)(kind, key, now, delay)

        def separately(conn: Connection) -> None:
            for rule, kind, key, now, delay in calls:
                one_at_a_time(conn, rule, kind, key + OFFSET, now, delay)

        await store.engine.write(merged)
        await store.engine.write(separately)
        after = await store.engine.read(queue_rows)

        touched = {(kind, key) for _, kind, key, _, _ in calls}
        for (kind, key), (first, due, version) in after.items():
            if key >= OFFSET:
                continue
            twin = after[(kind, key + OFFSET)]
            assert (first, due) == twin[:2], (kind, key)
            if (kind, key) in initial and (kind, key) in touched:
                assert version > initial[(kind, key)][2], (kind, key)
        merged_keys = {(kind, key) for kind, key in after if key < OFFSET}
        assert merged_keys == {(kind, key - OFFSET) for kind, key in after if key >= OFFSET}

    await using(new_store(), scenario)


@pytest.mark.anyio
async def test_a_write_that_is_undone_queues_nothing(new_store: Callable[[], SQLStore]) -> None:
    async def scenario(store: SQLStore) -> None:
        def refused(_conn: Connection) -> Any:
            store.queue_rows.quiet("session", 7, 1_000, 60_000)
            raise ValueError("refused after queueing")

        def kept(_conn: Connection) -> None:
            store.queue_rows.soon("live", 8, 1_000, 500)

        with pytest.raises(ValueError, match="refused after queueing"):
            await store.engine.write(refused)
        await store.engine.write(kept)

        queued = await store.engine.read(queue_rows)
        assert {job: row[:2] for job, row in queued.items()} == {("live", 8): (1_000, 1_500)}

    await using(new_store(), scenario)


@pytest.mark.anyio
async def test_a_write_that_queues_ten_thousand_jobs_is_written_in_pieces(
    new_store: Callable[[], SQLStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large OTLP batch of errors queues a job per error: 10,000 rows of four parameters
    are more than SQLite takes in one statement as it is usually built (32,766; Debian's
    takes 250,000), so they go in pieces, and all are written."""
    jobs = 10_000
    statements = recorded_statements(monkeypatch)

    async def scenario(store: SQLStore) -> None:
        def many(_conn: Connection) -> None:
            for key in range(jobs):
                store.queue_rows.quiet("backend", key, 1_000, 0)

        await store.engine.write(many)
        queued = await store.engine.read(queue_rows)
        assert sorted(key for _, key in queued) == list(range(jobs))

    await using(new_store(), scenario)
    assert max(len(parameters) for _, parameters in statements) <= 32_766
