"""Small work on the event loop's thread, large or compressed-and-large work on another."""

from __future__ import annotations

import asyncio
import threading

import pytest

from footlight.ingest.offload import COMPRESSED_INLINE_BYTES, PLAIN_INLINE_BYTES, run_sized


def _thread_of(size: int, compressed: bool) -> threading.Thread:
    async def main() -> threading.Thread:
        return await run_sized(size, compressed, threading.current_thread)

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("size", "compressed", "inline"),
    [
        (COMPRESSED_INLINE_BYTES, True, True),
        (COMPRESSED_INLINE_BYTES + 1, True, False),
        (COMPRESSED_INLINE_BYTES + 1, False, True),
        (PLAIN_INLINE_BYTES, False, True),
        (PLAIN_INLINE_BYTES + 1, False, False),
    ],
)
def test_work_runs_inline_only_when_small(size: int, compressed: bool, inline: bool) -> None:
    ran_on = _thread_of(size, compressed)
    assert (ran_on is threading.main_thread()) is inline
