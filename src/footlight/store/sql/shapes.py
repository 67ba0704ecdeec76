"""Statements whose text grows with a batch, kept to a few shapes.

A group commit's pushes are read and written by statements with one placeholder group per
push (an IN list, an OR chain, a multi-row VALUES). Each different text is a statement
SQLite must prepare, and its connection keeps the last 128 prepared: with batches of every
size from 1 to 256, the texts were nearly always new, and each was prepared and later
finalized again. Both steps give up the interpreter lock and wait to take it back from the
event loop, which holds it nearly all the time; at saturation they were a third of the
writer thread's waits. (A prepared 256-row INSERT of payloads also holds ~250 KB.)

So a statement's groups come in powers of two: lists that may repeat a value (IN, OR, a
CASE whose first match wins) are padded with their last value, and rows to insert are cut
into power-of-two pieces, largest first. Nine shapes cover 1 to 256.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def padded(values: Sequence[T]) -> list[T]:
    """`values` with the last repeated up to the next power of two of their number: for an
    IN list, an OR chain or a CASE, where a repeat changes nothing."""
    if not values:
        return []
    size = 1 << (len(values) - 1).bit_length()
    return [*values, *[values[-1]] * (size - len(values))]


def pieces(rows: Sequence[T], most: int = 256) -> Iterator[Sequence[T]]:
    """`rows` in pieces whose sizes are powers of two, largest first (37 rows: 32, 4, 1), of
    at most `most` rows (a power of two) each: a statement's parameters stay within both
    engines' limits (SQLite: 32,766)."""
    start = 0
    while start < len(rows):
        size = min(most, 1 << ((len(rows) - start).bit_length() - 1))
        yield rows[start : start + size]
        start += size


def groups(count: int, group: str) -> str:
    """`count` copies of a placeholder `group`, comma-separated: "(?, ?), (?, ?)"."""
    return ", ".join([group] * count)
