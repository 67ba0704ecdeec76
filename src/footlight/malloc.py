"""Give freed request memory back to the operating system after a burst (glibc).

Request bodies, their chunks and what they decode to come and go by the megabyte. glibc
serves blocks below its mmap threshold from heaps that shrink only from the top, and that
threshold is dynamic: once a large block has been freed, blocks up to its size (up to
32 MiB) come from the heap too. So after a burst of large requests the heap is a sieve of
free space that the process keeps. Measured: 100 connections each sending 15.9 MiB left RSS
at 583 MB after they were gone, and a mix of 0.3-16 MiB bodies at 234 MB (from 49).

`malloc_trim(0)` returns the free pages inside the heaps too. It takes a few milliseconds
when there is something to return and a fraction of one otherwise, so it runs once request
bodies of 64 KiB or more have stopped going for a second (the burst is over), on a thread
(ctypes releases the GIL for the call): the mix above then leaves 51 MB. While they keep
coming it runs at most every 30 s: the pages it returns then are taken back at once by the
next requests, each page fault zeroing a page (trimming every second under the bench's
steady mix, a 300 KB push in 40, cost ~3 % of the server's CPU). Small bodies (every
routine push) do not count: the heap reuses what they leave at once. The alternative, a
fixed low mmap threshold (`mallopt(M_MMAP_THRESHOLD)`), returns memory as well but makes
every push that inflates past the threshold pay for a fresh mapping: 12 % more CPU per
routine push, measured.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import platform
from collections.abc import Callable

TRIM_DELAY_SECONDS = 1.0
"""How long no large body must have gone before the heap is trimmed."""
TRIM_AT_LEAST_SECONDS = 30.0
"""Longest a trim waits while large bodies keep going."""
COUNTED_BODY_BYTES = 64 * 1024
"""Smaller bodies do not count: the blocks they leave are what the next requests reuse."""


def _malloc_trim() -> Callable[[int], int] | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(
            ctypes.util.find_library("c") or "libc.so.6"
        ).malloc_trim
    except (OSError, AttributeError):  # pragma: no cover - an unusual libc
        return None
    return trim


class Trimmer:
    """Trims the heap once large request bodies have stopped going (see the module)."""

    def __init__(
        self,
        quiet_seconds: float = TRIM_DELAY_SECONDS,
        at_least_seconds: float = TRIM_AT_LEAST_SECONDS,
    ) -> None:
        self._trim = _malloc_trim()
        self._quiet = quiet_seconds
        self._at_least = at_least_seconds
        self._pending = False
        self._first = self._last = 0.0
        self.trims = 0

    def freed(self, size: int) -> None:
        """A request's body of `size` bytes is gone (its request answered)."""
        if self._trim is None or size < COUNTED_BODY_BYTES:
            return
        loop = asyncio.get_running_loop()
        self._last = loop.time()
        if not self._pending:
            self._pending = True
            self._first = self._last
            loop.call_later(self._quiet, self._due)

    def _due(self) -> None:
        assert self._trim is not None
        loop = asyncio.get_running_loop()
        at = min(self._last + self._quiet, self._first + self._at_least)
        if loop.time() < at:
            loop.call_at(at, self._due)
            return
        self._pending = False
        self.trims += 1
        loop.run_in_executor(None, self._trim, 0)
