"""How the UI writes times, durations, sizes and users (Jinja2 filters).

Every filter is total: stored values come from strangers (an error stamped
`9999-12-31T23:59:59-14:00` is a time past year 9999, which `datetime` cannot hold), and one
such value must not turn a page into a 500 for good. A number a filter cannot show as what
it should be is shown as the number itself, marked.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import msgspec

from footlight.store.base import SessionView


def when(epoch_ms: float | None) -> str:
    """An absolute time, in UTC like the filters that take one; beyond the years 1 to 9999,
    the number of milliseconds it stands for."""
    if epoch_ms is None:
        return "—"
    try:
        moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        return f"invalid time ({epoch_ms} ms)"
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f" {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} UTC"
    )


def ms(value: float | None) -> str:
    """Epoch milliseconds as a whole number (for the page script's `data-ts`), or "" for
    what is not a finite number."""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value))
    return ""


def duration(ms: float | None) -> str:
    if ms is None:
        return "—"
    if not isinstance(ms, int | float) or not math.isfinite(ms):
        return f"invalid duration ({ms})"
    seconds = int(ms // 1000)
    if seconds < 60:
        return f"{seconds}s" if seconds or ms == 0 else f"{int(ms)}ms"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def size(count: float | None) -> str:
    if count is None:
        return ""
    for unit in ("B", "kB", "MB"):
        if count < 1000:
            return f"{count:.0f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"


def user(view: SessionView) -> str:
    return view.identifier or view.email or view.client_id or "anonymous"


def browser(view: SessionView) -> str:
    summary = view.summary
    if summary is None or not summary.browser_name:
        return "—"
    major = (summary.browser_version or "").split(".")[0]
    text = f"{summary.browser_name} {major}".strip()
    return f"{text} · {summary.os_name}" if summary.os_name else text


def body(value: Any) -> str:
    """A recorded request or response body as text (the SDK sends strings or JSON)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return msgspec.json.format(msgspec.json.encode(value)).decode()


CLIP_CHARS = 4000
"""Most characters of one recorded text (a console line, a body) a session page shows; the
read API has it whole. With `PANE_ROWS` rows a pane, this bounds the page."""


def clip(value: Any, limit: int = CLIP_CHARS) -> str:
    """Text as a pane shows it: its first `limit` characters, the rest counted."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def pairs(value: Any) -> list[tuple[str, Any]]:
    """The entries of a recorded mapping (headers, properties), whatever the SDK sent."""
    if isinstance(value, dict):
        return [(str(k), v) for k, v in value.items()]
    return [] if value in (None, "") else [("", value)]


FILTERS = {
    "pairs": pairs,
    "when": when,
    "ms": ms,
    "duration": duration,
    "size": size,
    "user": user,
    "browser": browser,
    "body": body,
    "clip": clip,
}
