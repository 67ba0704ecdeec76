"""Wall-clock time as footlight stores it: whole milliseconds since the Unix epoch.

Every layer stamps records (received, created, last seen) and the stores compare them with
what the SDK sends (rrweb timestamps are epoch milliseconds), so there is one clock.
"""

from __future__ import annotations

import time


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(time.time() * 1000)
