"""New input's processing jobs, queued in one statement per group commit.

Every stored push queues its session twice: for processing once the session has been quiet
for `inactivity_ms` (but no later than `max_delay_ms` after it was first queued), and for a
live run `live_delay_ms` after the first payload since the last run. Written at once, those
were two of a push's statements, and each statement of the writer thread gives up the
interpreter lock and waits to take it back from the event loop. `QueueRows` keeps what the
writes of a batch queue and writes it, merged, just before the batch's COMMIT (it is the
engine's `BatchEnd`): a job is still queued in the transaction that stored its input, and a
write that is undone queues nothing.

Two queueings of one job in a batch are one row, the row their statements one after the
other would have left: a quiet-rule job is due after the last input (capped at
`max_delay_ms` after the first), a soon-rule job after the earliest; its version goes up
once, which is all it must do
(processing compares versions to see input that arrived during a run). Rows are written in
(kind, key) order, so that PostgreSQL nodes committing together take the queue's row locks in
one order.

Reads in a later write of the same batch do not see these rows yet: a claim there leaves the
job for the next claim, and a run finishing there finishes it before the new input's row is
written, which queues it anew.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from footlight.store.base import JobKind
from footlight.store.sql import shapes
from footlight.store.sql.engine import Connection

Rule = Literal["quiet", "soon"]

_UPSERTS: dict[Rule, str] = {
    "quiet": (
        " ON CONFLICT (kind, key) DO UPDATE SET version = processing_queue.version + 1,"
        " due_at = CASE WHEN excluded.due_at < processing_queue.first_enqueued_at + ?"
        " THEN excluded.due_at ELSE processing_queue.first_enqueued_at + ? END"
    ),
    "soon": (
        " ON CONFLICT (kind, key) DO UPDATE SET version = processing_queue.version + 1,"
        " due_at = CASE WHEN processing_queue.due_at < excluded.due_at"
        " THEN processing_queue.due_at ELSE excluded.due_at END"
    ),
}


@dataclass
class _Queued:
    first: int
    """The time of the batch's first queueing of the job, in the order they ran."""
    last: int
    """The time of its last."""
    earliest: int
    delay_ms: int
    merged: bool = False


class QueueRows:
    """The processing jobs the writes of one batch queued (see the module docstring)."""

    def __init__(self, max_delay_ms: int) -> None:
        self._max_delay_ms = max_delay_ms
        self._write: list[tuple[Rule, JobKind, int, int, int]] = []
        self._batch: dict[tuple[Rule, JobKind, int], _Queued] = {}

    def quiet(self, kind: JobKind, key: int, now: int, delay_ms: int) -> None:
        """Queue `key`, due once no input has come for `delay_ms`, but no later than
        `max_delay_ms` after it was first queued."""
        self._write.append(("quiet", kind, key, now, delay_ms))

    def soon(self, kind: JobKind, key: int, now: int, delay_ms: int) -> None:
        """Queue `key`, due `delay_ms` after the first input since its last run; later input
        never pushes it back."""
        self._write.append(("soon", kind, key, now, delay_ms))

    # -- the engine's BatchEnd --------------------------------------------------------------

    def settle(self, ok: bool) -> None:
        if ok:
            for rule, kind, key, now, delay_ms in self._write:
                queued = self._batch.get((rule, kind, key))
                if queued is None:
                    self._batch[(rule, kind, key)] = _Queued(now, now, now, delay_ms)
                else:
                    queued.last, queued.earliest = now, min(queued.earliest, now)
                    queued.merged = True
        self._write.clear()

    def discard(self) -> None:
        self._write.clear()
        self._batch.clear()

    def flush(self, conn: Connection) -> None:
        by_rule: dict[Rule, list[tuple[JobKind, int, int, int]]] = {"quiet": [], "soon": []}
        for (rule, kind, key), queued in sorted(self._batch.items()):
            by_rule[rule].append((kind, key, queued.first, self._due(rule, queued)))
        self._batch.clear()
        for rule, rows in by_rule.items():
            extra = (self._max_delay_ms, self._max_delay_ms) if rule == "quiet" else ()
            for piece in shapes.pieces(rows):
                conn.execute(
                    "INSERT INTO processing_queue (kind, key, first_enqueued_at, due_at) VALUES "
                    + shapes.groups(len(piece), "(?, ?, ?, ?)")
                    + _UPSERTS[rule],
                    [*(value for row in piece for value in row), *extra],
                )

    def _due(self, rule: Rule, queued: _Queued) -> int:
        if rule == "soon":
            return queued.earliest + queued.delay_ms
        if queued.merged:
            # As the second of two statements would have left a row the first inserted.
            return min(queued.last + queued.delay_ms, queued.first + self._max_delay_ms)
        return queued.last + queued.delay_ms
