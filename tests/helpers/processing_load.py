"""Large rrweb loads and session reads shared by processing's bound and crash-loop tests."""

from __future__ import annotations

import base64
import gzip
import time

from footlight.store.base import SessionView
from tests.helpers.servers import Server
from tests.helpers.store import with_store

T0 = 1_795_664_479_000
LATER = {
    "FOOTLIGHT_SESSION_INACTIVITY_SECONDS": "3600",
    # These loads test the finished session's processing (its memory, leases, crashes): no
    # live runs beside it (tests/processing/test_live.py tests those).
    "FOOTLIGHT_LIVE_DELAY_SECONDS": "off",
}
"""Sessions are processed only when a test makes their job due."""


def moves(t: int, count: int, *, snapshot: bool = False) -> str:
    """A push of `count` mouse moves 1 ms apart from `t` (and a FullSnapshot first), as the
    base64 of gzip the SDK sends: ~46 bytes of JSON per event."""
    event = b'{"type":3,"data":{"source":1,"positions":[]},"timestamp":%d}'
    parts = [event % (t + i) for i in range(count)]
    if snapshot:
        parts[0] = b'{"type":2,"data":{"node":{"type":0,"id":1}},"timestamp":%d}' % t
    body = b'{"events":{"events":[' + b",".join(parts) + b"]}}"
    return base64.b64encode(gzip.compress(body, compresslevel=1, mtime=0)).decode()


def view(server: Server, secure_id: str) -> SessionView:
    found = with_store(server.data_dir, lambda store: store.session_view(secure_id))
    assert found is not None
    return found


def now_ms() -> int:
    return int(time.time() * 1000)


EVENTS = 100_000  # the default max_events_per_payload: each push is as large as allowed
