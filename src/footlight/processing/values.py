"""Reading values the SDK chose, defensively: the wrong type yields None or nothing, never
an exception, so one odd value cannot stop a session from being processed."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgspec

from footlight.core.payload import StackFrameShape
from footlight.core.records import StackFrame

# Past 2**53 a float no longer holds every integer, so a larger "time" or "size" is not a
# measurement; the bound also keeps every value inside SQLite's and PostgreSQL's 64-bit
# integers, and a huge JSON integer from overflowing float().
_MAX_MAGNITUDE = 2**53


def number(value: Any) -> float | None:
    """A finite JSON number within ±2**53 as a float; anything else is None."""
    kind = type(value)  # what JSON decodes to, first: this runs for every field read
    if kind is float:
        return value if -_MAX_MAGNITUDE <= value <= _MAX_MAGNITUDE else None  # NaN fails too
    if kind is int:
        return float(value) if -_MAX_MAGNITUDE <= value <= _MAX_MAGNITUDE else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int):
        return float(value) if abs(value) <= _MAX_MAGNITUDE else None
    return value if math.isfinite(value) and abs(value) <= _MAX_MAGNITUDE else None


def whole(value: Any) -> int | None:
    """`number`, truncated to an integer."""
    as_float = number(value)
    return None if as_float is None else int(as_float)


def text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def json_object(value: Any) -> dict[str, Any]:
    """A JSON object given as text (or already decoded); anything else is empty."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str) or not value:
        return {}
    try:
        decoded = msgspec.json.decode(value)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


def nested_list(value: str | None, key: str) -> list[dict[str, Any]]:
    """The objects in `{key: [...]}` given as text: how the SDK wraps messages and resources."""
    items = json_object(value).get(key)
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def stack_frame(raw: Any) -> StackFrame | None:
    if isinstance(raw, StackFrameShape):
        raw = msgspec.structs.asdict(raw)
    elif type(raw) is not dict and not isinstance(raw, Mapping):
        return None
    get = raw.get
    return StackFrame(
        file_name=text(get("fileName")),
        function_name=text(get("functionName")),
        line_number=whole(get("lineNumber")),
        column_number=whole(get("columnNumber")),
        source=text(get("source")),
    )


def stack_frames(raw: Any) -> tuple[StackFrame, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(f for f in map(stack_frame, raw) if f is not None)


def json_list(value: Any) -> list[Any]:
    """A JSON array given as text (or already decoded); anything else is empty."""
    if isinstance(value, list):
        return value
    if not isinstance(value, str) or not value:
        return []
    try:
        decoded = msgspec.json.decode(value)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return []
    return decoded if isinstance(decoded, list) else []
