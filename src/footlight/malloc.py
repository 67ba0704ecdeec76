"""Give freed request memory back to the operating system (glibc's allocator).

Request bodies, their chunks and what they decode to come and go by the megabyte. glibc
serves blocks under its mmap threshold from heaps that only shrink from the top, and that
threshold is dynamic: once a large block has been freed, blocks up to that size (up to
32 MiB) come from the heap too. So after a burst of large requests the heap is a sieve
of free space that the process keeps: measured, 100 connections each sending 15.9 MiB left
RSS at 583 MB after they were gone, and a mix of 0.3-16 MiB bodies at 261 MB (from 49).

A fixed threshold of 64 KiB (which also turns the dynamic adjustment off) makes every block
of that size or more its own mapping, returned when freed: the same mix then leaves 56 MB.
Smaller blocks (everything the SDK's routine pushes allocate) are untouched; a mapping costs
a system call, which only requests that move megabytes pay.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 64 * 1024


def return_freed_memory() -> bool:
    """Set glibc's mmap threshold; False where the C library is not glibc."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):  # pragma: no cover - an unusual libc
        return False
