"""Give freed request memory back to the operating system after a burst (glibc).

Request bodies, their chunks and what they decode to come and go by the megabyte. glibc
serves blocks below its mmap threshold from heaps that shrink only from the top, and that
threshold is dynamic: once a large block has been freed, blocks up to its size (up to
32 MiB) come from the heap too. So after a burst of large requests the heap is a sieve of
free space that the process keeps. Measured: 100 connections each sending 15.9 MiB left RSS
at 583 MB after they were gone, and a mix of 0.3-16 MiB bodies at 234 MB (from 49).

`malloc_trim(0)` returns the free pages inside the heaps too. It takes a few milliseconds
when there is something to return and a fraction of one otherwise, so it runs a second
after a request body of 64 KiB or more has gone (by then the rest of a burst has usually
gone too), at most once a second, on a thread (ctypes releases the GIL for the call):
the mix above then leaves 51 MB. Small bodies (every routine push) do not count: the heap
reuses what they leave at once. The alternative, a fixed low mmap threshold
(`mallopt(M_MMAP_THRESHOLD)`), returns memory as well but makes every push that inflates
past the threshold pay for a fresh mapping: 12 % more CPU per routine push, measured.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import platform
from collections.abc import Callable

TRIM_DELAY_SECONDS = 1.0
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
    """Trims the heap a second after large request bodies have gone."""

    def __init__(self) -> None:
        self._trim = _malloc_trim()
        self._pending = False
        self.trims = 0

    def freed(self, size: int) -> None:
        """A request's body of `size` bytes is gone (its request answered)."""
        if self._trim is None or size < COUNTED_BODY_BYTES or self._pending:
            return
        self._pending = True
        asyncio.get_running_loop().call_later(TRIM_DELAY_SECONDS, self._run)

    def _run(self) -> None:
        assert self._trim is not None
        self._pending = False
        self.trims += 1
        asyncio.get_running_loop().run_in_executor(None, self._trim, 0)
