"""Exactly once, checked through the store: what the benchmarks' clients saw acknowledged.

A benchmark whose server lost or doubled payloads under load would measure the wrong thing
fast, so every run reads the stored (session, payload id) pairs back from the store itself,
beside the server, and compares them with what its clients were told.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nodes import query_store


@dataclass
class StoredPayloads:
    """How many times each (session secure id, payload id) is stored."""

    counts: Counter[tuple[str, int]]

    def rows_of(self, sessions: Iterable[str]) -> int:
        """Payload rows stored for these sessions."""
        wanted = set(sessions)
        return sum(n for (secure_id, _), n in self.counts.items() if secure_id in wanted)

    def missing(self, acknowledged: Iterable[tuple[str, int]]) -> int:
        """Acknowledged (session, payload id) pairs not stored."""
        return sum(1 for pair in set(acknowledged) if self.counts[pair] == 0)

    def twice(self) -> int:
        """(session, payload id) pairs stored more than once."""
        return sum(1 for n in self.counts.values() if n > 1)


def stored_payloads(data_dir: Path, store: str | None, prefix: str) -> StoredPayloads:
    """The payloads of the sessions whose secure id starts with `prefix` (a run's own), in
    the store (`store`, or the SQLite file in `data_dir`)."""
    rows = query_store(
        data_dir,
        store,
        "SELECT s.secure_id, p.payload_id FROM payloads p JOIN sessions s ON s.id = p.session_id",
    )
    return StoredPayloads(
        Counter(
            (str(secure_id), int(pid))
            for secure_id, pid in rows
            if str(secure_id).startswith(prefix)
        )
    )
