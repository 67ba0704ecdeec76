"""Small work on the event loop's thread, large or compressed-and-large work on another."""

from __future__ import annotations

import threading

import pytest

from footlight.ingest.offload import COMPRESSED_INLINE_BYTES, PLAIN_INLINE_BYTES, run_sized


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
@pytest.mark.anyio
async def test_work_runs_inline_only_when_small(size: int, compressed: bool, inline: bool) -> None:
    ran_on = await run_sized(size, compressed, threading.current_thread)
    assert (ran_on is threading.main_thread()) is inline
