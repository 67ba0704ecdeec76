"""What ingest refused, counted by project and reason, so the setup page can say which part
of a site's wiring is wrong (a project id nobody created, payloads the SDK should not send).

Refusals come from strangers, may be many (a page with a wrong project id refuses one
initializeSession per load) and of every kind: they are never written one by one. Each
process counts them in memory and `flush_every` seconds the server adds the counts to the
store in one write. A refusal of a known project is counted by (project, code): projects are
the operator's and codes few, so those pairs are bounded already. The ids of projects this
server lacks (code `UNKNOWN_PROJECT`) are the strangers' choice: at most `max_kinds` of them
are counted between two writes (the rest only in `not_counted`, logged) and the store keeps
the most recently refused `FOOTLIGHT_REFUSALS_KEPT`, so a flood of invented ids can neither
grow either one nor push a real project's refusals out. A write the store cannot take for
now (a PostgreSQL failover, a disk that fills) gives its counts back, under the same bound,
for the next one: an operator wiring a site reads the setup page while things go wrong. A
write the store refuses for what it holds is not tried again (it would fail again). A crash
loses at most the last interval's counts: they are diagnostics, not acknowledged data.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from footlight.core.clock import now_ms
from footlight.errors import StoreError, StoreUnavailable
from footlight.store.base import UNKNOWN_PROJECT, IngestStore, IntakeRefusal

log = logging.getLogger("footlight.ingest")

_EXAMPLE_CHARS = 300
_PROJECT_CHARS = 64


def _kept(text: str, limit: int) -> str:
    """A stranger's text as stored: cut to `limit` characters, NUL (which PostgreSQL text
    cannot hold) replaced. Pages escape what they show."""
    return text[:limit].replace("\x00", "\ufffd")


@dataclass
class _Count:
    count: int
    first_at: int
    last_at: int
    example: str


class RefusalCounter:
    def __init__(self, max_kinds: int) -> None:
        self._max_kinds = max_kinds
        self._counts: dict[tuple[str, str], _Count] = {}
        self._unknown = 0
        self.not_counted = 0

    def note(self, project: str, code: str, message: str) -> None:
        """One refused request of a project (its verbose id) this server has."""
        self._add((project, code), message)

    def note_unknown(self, named: str, message: str) -> None:
        """One refused request naming a project this server lacks."""
        self._add((_kept(named, _PROJECT_CHARS), UNKNOWN_PROJECT), message)

    def _add(self, key: tuple[str, str], message: str) -> None:
        now = now_ms()
        self._count(key, 1, now, now, message)

    def give_back(self, taken: list[IntakeRefusal]) -> None:
        """Count again what a `take` took (its write failed), with what came since, under
        the same bound on projects this server lacks."""
        for r in taken:
            self._count((r.project, r.code), r.count, r.first_at, r.last_at, r.example)

    def _count(
        self, key: tuple[str, str], count: int, first_at: int, last_at: int, example: str
    ) -> None:
        """Add `count` refusals of `key` between `first_at` and `last_at`, the last answered
        `example` (the latest refusal's example is kept)."""
        found = self._counts.get(key)
        if found is not None:
            found.count += count
            found.first_at = min(found.first_at, first_at)
            if last_at >= found.last_at:
                found.last_at, found.example = last_at, _kept(example, _EXAMPLE_CHARS)
        elif key[1] != UNKNOWN_PROJECT or self._unknown < self._max_kinds:
            self._unknown += key[1] == UNKNOWN_PROJECT
            self._counts[key] = _Count(count, first_at, last_at, _kept(example, _EXAMPLE_CHARS))
        else:
            self.not_counted += count

    def take(self) -> list[IntakeRefusal]:
        """The counts since the last `take`, which starts counting anew."""
        counts, self._counts, self._unknown = self._counts, {}, 0
        return [
            IntakeRefusal(project, code, c.count, c.first_at, c.last_at, c.example)
            for (project, code), c in counts.items()
        ]

    async def run(self, store: IngestStore, keep: int, flush_every: float = 5.0) -> None:
        """Add the counts to the store every `flush_every` s until cancelled (then once more)."""
        try:
            while True:
                await asyncio.sleep(flush_every)
                await self.flush(store, keep)
        finally:
            await asyncio.shield(self.flush(store, keep, last=True))

    async def flush(self, store: IngestStore, keep: int, last: bool = False) -> None:
        """Add the counts to the store; if it is unavailable, count them again for the next
        flush (unless this is the `last`)."""
        taken = self.take()
        if self.not_counted:
            log.warning(
                "%d requests naming unknown projects were not counted: more than %d such ids"
                " since the last count (FOOTLIGHT_REFUSALS_KEPT)",
                self.not_counted,
                self._max_kinds,
            )
            self.not_counted = 0
        if not taken:
            return
        try:
            await store.note_refusals(taken, keep)
        except (StoreError, StoreUnavailable) as exc:
            # Unavailable is for now: the next flush tries again. Refused for what they hold
            # (StoreError), given back they would fail every later flush too.
            again = isinstance(exc, StoreUnavailable) and not last
            if again:
                self.give_back(taken)
            log.warning(
                "could not record %d kinds of refused requests (%s): %s",
                len(taken),
                "kept for the next try" if again else "lost",
                exc,
            )
