"""rrweb events as processing reads them: type and time decoded, `data` left as raw JSON.

Most of a recording's bytes are DOM snapshots and mutations that processing never looks at,
so `data` stays `msgspec.Raw` and each consumer decodes only the event kinds it needs, with a
narrow struct that skips everything else without building Python objects for it.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import msgspec


class EventType(IntEnum):
    DOM_CONTENT_LOADED = 0
    LOAD = 1
    FULL_SNAPSHOT = 2
    INCREMENTAL_SNAPSHOT = 3
    META = 4
    CUSTOM = 5
    PLUGIN = 6


class IncrementalSource(IntEnum):
    MUTATION = 0
    MOUSE_MOVE = 1
    MOUSE_INTERACTION = 2
    SCROLL = 3
    VIEWPORT_RESIZE = 4
    INPUT = 5
    TOUCH_MOVE = 6
    MEDIA_INTERACTION = 7
    STYLE_SHEET_RULE = 8
    CANVAS_MUTATION = 9
    FONT = 10
    LOG = 11
    DRAG = 12


class MouseInteraction(IntEnum):
    MOUSE_UP = 0
    MOUSE_DOWN = 1
    CLICK = 2
    CONTEXT_MENU = 3
    DBL_CLICK = 4
    FOCUS = 5
    BLUR = 6
    TOUCH_START = 7
    TOUCH_END = 9


# Sources that mean a person did something (Highlight's definition of activity).
USER_INTERACTION_SOURCES = frozenset(
    {
        IncrementalSource.MOUSE_MOVE,
        IncrementalSource.MOUSE_INTERACTION,
        IncrementalSource.SCROLL,
        IncrementalSource.INPUT,
        IncrementalSource.TOUCH_MOVE,
        IncrementalSource.DRAG,
    }
)


class RrwebEvent(msgspec.Struct):
    type: int
    timestamp: float
    data: msgspec.Raw
    sid: float | None = msgspec.field(default=None, name="_sid")


class IncrementalData(msgspec.Struct):
    """The few fields of an IncrementalSnapshot's data that processing reads."""

    source: int | None = None
    type: int | None = None
    id: int | None = None
    x: float | None = None
    y: float | None = None


class MetaData(msgspec.Struct):
    href: str | None = None
    width: int | float | None = None
    height: int | float | None = None


class CustomData(msgspec.Struct):
    """A Custom event's data; `payload` stays raw JSON (`null` when absent).

    Not `Raw | None`: msgspec cannot hold `Raw` in a union, so that would accept only null.
    """

    tag: str = ""
    payload: msgspec.Raw = msgspec.Raw(b"null")


incremental_data = msgspec.json.Decoder(IncrementalData).decode
meta_data = msgspec.json.Decoder(MetaData).decode
custom_data = msgspec.json.Decoder(CustomData).decode


class _Events(msgspec.Struct, frozen=True):
    events: list[Any] = []


class _PayloadEvents(msgspec.Struct, frozen=True):
    events: _Events = _Events()


_decode_payload_events = msgspec.json.Decoder(_PayloadEvents).decode


def payload_events(data: bytes) -> list[Any]:
    """A payload's rrweb events (its JSON, inflated) as Python objects, for the readers that
    rewrite or search the events whole (asset URLs); the rest of the payload is skipped."""
    return _decode_payload_events(data).events.events
