"""Where CPU work on a stranger's bytes runs: small jobs on the event loop, the rest on the
ingest threads.

A thread hop costs tens of microseconds, which matters for the SDK's many small pushes;
a job that runs for milliseconds on the loop stalls every other request. What decides is
the size of the work, and compressed input hides it: gzip expands up to ~1000 times, so
compressed input moves off the loop from a few kilobytes (the SDK's pushes are 0.5-6 KB of
base64 and stay inline), plain input only from hundreds.

The ingest threads are a pool of their own (`FOOTLIGHT_INGEST_THREADS`, default 2), not
asyncio's default executor: their number is what bounds the memory of the work in progress
(each inflates at most `max_inflated_bytes`), and ingest must not queue behind processing,
which uses the default executor for whole sessions. Python runs one thread at a time, so
more threads than cores buy no speed, only memory.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

COMPRESSED_INLINE_BYTES = 8 * 1024
PLAIN_INLINE_BYTES = 256 * 1024
DEFAULT_THREADS = 2

_threads = DEFAULT_THREADS
_pool: ThreadPoolExecutor | None = None


def configure(threads: int) -> None:
    """Size the ingest threads (at start-up, before the first job)."""
    global _threads, _pool
    if _pool is not None and threads != _threads:
        _pool.shutdown(wait=False)
        _pool = None
    _threads = threads


def threads() -> int:
    return _threads


def start() -> None:
    """Start the threads now: starting one later waits for the GIL, which busy threads hold."""
    pool = _executor()
    started = threading.Barrier(_threads + 1)
    for _ in range(_threads):  # each waits for all: none is idle when the next is submitted
        pool.submit(started.wait)
    started.wait()


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_threads, thread_name_prefix="footlight-ingest")
    return _pool


async def run_off_loop(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` on an ingest thread."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor(), functools.partial(fn, *args))


async def run_sized(size: int, compressed: bool, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)`, inline if `size` bytes of (`compressed` or plain) input are little work."""
    inline = COMPRESSED_INLINE_BYTES if compressed else PLAIN_INLINE_BYTES
    if size <= inline:
        return fn(*args)
    return await run_off_loop(fn, *args)
