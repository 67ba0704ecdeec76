"""The heap trimmer (footlight.malloc): after a burst of large bodies, not during one."""

from __future__ import annotations

import asyncio
import platform

import pytest

from footlight.malloc import COUNTED_BODY_BYTES, Trimmer

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="malloc_trim is glibc's; elsewhere the trimmer does nothing",
)


async def bodies_going(trimmer: Trimmer, seconds: float, every: float = 0.05) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        trimmer.freed(COUNTED_BODY_BYTES)
        await asyncio.sleep(every)


@pytest.mark.anyio
async def test_the_heap_is_trimmed_once_a_burst_is_over_not_during_it() -> None:
    trimmer = Trimmer(quiet_seconds=0.2, at_least_seconds=10)
    await bodies_going(trimmer, 1.0)
    assert trimmer.trims == 0, "trimmed while large bodies kept going"
    await asyncio.sleep(0.4)
    assert trimmer.trims == 1
    trimmer.freed(COUNTED_BODY_BYTES - 1)  # a small body does not count
    await asyncio.sleep(0.4)
    assert trimmer.trims == 1


@pytest.mark.anyio
async def test_bodies_that_keep_going_are_trimmed_at_least_every_so_often() -> None:
    trimmer = Trimmer(quiet_seconds=0.2, at_least_seconds=0.5)
    await bodies_going(trimmer, 1.3)
    assert 2 <= trimmer.trims <= 3
