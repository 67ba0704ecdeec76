"""What the browser SDK puts in a payload, built by hand: rrweb events, page errors, and
errors as a backend SDK sends them. Times are epoch ms from `T0`."""

from __future__ import annotations

import json
from typing import Any

T0 = 1_795_664_479_000
"""Epoch ms of the recordings' first event (2026-11-26T03:41:19Z)."""
APP = "https://app.example"


def meta(t: int, url: str = f"{APP}/") -> dict[str, Any]:
    return {
        "type": 4,
        "data": {"href": url, "width": 1280, "height": 800},
        "timestamp": t,
        "_sid": 1,
    }


def full_snapshot(t: int) -> dict[str, Any]:
    return {
        "type": 2,
        "data": {
            "node": {"type": 0, "childNodes": [], "id": 1},
            "initialOffset": {"left": 0, "top": 0},
        },
        "timestamp": t,
    }


def mouse_move(t: int) -> dict[str, Any]:
    return {
        "type": 3,
        "data": {"source": 1, "positions": [{"x": 1, "y": 1, "id": 1, "timeOffset": 0}]},
        "timestamp": t,
    }


def click(t: int) -> dict[str, Any]:
    return {"type": 3, "data": {"source": 2, "type": 2, "id": 1, "x": 5, "y": 5}, "timestamp": t}


def navigate(t: int, url: str) -> dict[str, Any]:
    return {"type": 5, "data": {"tag": "Navigate", "payload": url}, "timestamp": t}


def track_event(t: int, name: str, **properties: Any) -> dict[str, Any]:
    """What `H.track(name, properties)` records: a `Track` custom event."""
    payload = json.dumps({"event": name, **properties})
    return {"type": 5, "data": {"tag": "Track", "payload": payload}, "timestamp": t}


def active_for(seconds: int, t: int = T0) -> list[dict[str, Any]]:
    """A page shown at `t` and a mouse move every second for `seconds`: that many seconds active."""
    return [meta(t), full_snapshot(t), *(mouse_move(t + 1000 * i) for i in range(1, seconds + 1))]


def page_error(
    message: str,
    *,
    line: int = 10,
    function: str = "f",
    timestamp: str = "2026-11-26T03:41:21.546Z",
    type_: str = "window.onerror",
) -> dict[str, Any]:
    """An error as the SDK puts it in a payload."""
    return {
        "event": message,
        "type": type_,
        "url": f"{APP}/",
        "source": "app.js",
        "lineNumber": line,
        "columnNumber": 5,
        "stackTrace": [
            {
                "fileName": f"{APP}/app.js",
                "functionName": function,
                "lineNumber": line,
                "columnNumber": 5,
            }
        ],
        "timestamp": timestamp,
    }


def backend_error(
    message: str, secure_id: str | None, timestamp: str = "2026-11-26T03:41:30Z"
) -> dict[str, Any]:
    """An error as a backend SDK sends it with pushBackendPayload."""
    return {
        "session_secure_id": secure_id,
        "request_id": "req-1",
        "event": message,
        "type": "Backend",
        "url": "/api/pay",
        "source": "server.py",
        "stackTrace": json.dumps(
            [{"fileName": "server.py", "functionName": "pay", "lineNumber": 7}]
        ),
        "timestamp": timestamp,
        "service": {"name": "api", "version": "1"},
        "environment": "production",
    }
