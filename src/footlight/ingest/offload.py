"""Where CPU work on a stranger's bytes runs: small jobs on the event loop, the rest on a
worker thread.

A thread hop costs tens of microseconds, which matters for the SDK's many small pushes;
a job that runs for milliseconds on the loop stalls every other request. What decides is
the size of the work, and compressed input hides it: gzip expands up to ~1000 times, so
compressed input moves off the loop from a few kilobytes (the SDK's pushes are 0.5-6 KB of
base64 and stay inline), plain input only from hundreds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

COMPRESSED_INLINE_BYTES = 8 * 1024
PLAIN_INLINE_BYTES = 256 * 1024


async def run_sized(size: int, compressed: bool, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)`, inline if `size` bytes of (`compressed` or plain) input are little work."""
    inline = COMPRESSED_INLINE_BYTES if compressed else PLAIN_INLINE_BYTES
    if size <= inline:
        return fn(*args)
    return await asyncio.to_thread(fn, *args)
