"""New sessions wait while the store's disk is nearly full; recordings under way go on.

Below `FOOTLIGHT_MIN_FREE_DISK_BYTES` free on the file system that holds the store, an
initializeSession of a new session is answered 503 with `Retry-After` and the code
`LOW_DISK` (the SDK tries four times over ~7 s, then records nothing on that page). Pushes
to sessions already recording, reads, the UI and purges go on: the room left is theirs, and
`footlight purge` is how an operator makes more. If the disk does fill, the store's writes
fail and are answered 503 too (StoreUnavailable): nothing acknowledged is lost, the SDK
retries, and the store takes writes again once there is space, with no restart.

The free space is read (statvfs) at most once a second. A store whose disk footlight cannot
see (PostgreSQL: the database's disk is the database server's) is never refused here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from footlight.errors import LowDisk

log = logging.getLogger("footlight.ingest")

_EVERY_SECONDS = 1.0


def _megabytes(count: int) -> str:
    return f"{count / 1e6:,.0f} MB"


class DiskWatch:
    def __init__(self, free_bytes: Callable[[], int | None], minimum: int) -> None:
        """`free_bytes` reads the free space of the store's file system (None: unknown);
        `minimum` is the watermark (0: never refuse)."""
        self._free_bytes = free_bytes
        self._minimum = minimum
        self._read_at = -_EVERY_SECONDS
        self._free: int | None = None
        self._low = False

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._read_at < _EVERY_SECONDS:
            return
        self._read_at = now
        try:
            self._free = self._free_bytes()
        except OSError as exc:
            log.warning("cannot read the free space of the store's disk: %s", exc)
            self._free = None
        low = self._free is not None and self._free < self._minimum
        if low and not self._low:
            log.warning("%s; pushes to sessions already recording go on", self.reason())
        elif self._low and not low:
            log.warning("the store's disk has room again: new sessions are accepted")
        self._low = low

    def reason(self) -> str | None:
        """Why new sessions are refused now, or None when they are not."""
        if self._minimum <= 0:
            return None
        self._refresh()
        if not self._low or self._free is None:
            return None
        return (
            f"the disk holding the store has {_megabytes(self._free)} free, below"
            f" FOOTLIGHT_MIN_FREE_DISK_BYTES ({_megabytes(self._minimum)}): new sessions are"
            " refused until `footlight purge` (or the operator) frees space"
        )

    def admit_new_session(self) -> None:
        """Raise LowDisk (503, retried) if new sessions must wait for disk space."""
        reason = self.reason()
        if reason is not None:
            raise LowDisk(reason)
