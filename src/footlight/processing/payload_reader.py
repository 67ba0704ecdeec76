"""Reading a stored payload's parts within bounds, for `footlight.processing.session`.

Stored payloads passed validation at ingest, so their shape is known; their leaf values are
the SDK's to choose, so every field is read defensively: a value of an unexpected type is
skipped, never fatal to the session. The parts whose size is a stranger's choice (one
console message, one resource) are decoded into Python objects only up to
`max_decoded_bytes`; a larger one is read field by field, and a field that is still larger
is kept as cut JSON text.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import msgspec

from footlight.core.payload import ErrorObjectShape, StackFrameShape
from footlight.core.rrweb import RrwebEvent
from footlight.processing.limits import (
    DerivationLimits,
    cut_marker,
)

log = logging.getLogger("footlight.processing")

_JSON_ERRORS = (msgspec.DecodeError, RecursionError, UnicodeDecodeError)


_NULL = msgspec.Raw(b"null")


class _Console(msgspec.Struct):
    """A console message too large to decode whole: its fields, each still raw."""

    type: msgspec.Raw = _NULL
    time: msgspec.Raw = _NULL
    value: msgspec.Raw = _NULL
    trace: msgspec.Raw = _NULL
    attributes: msgspec.Raw = _NULL


class _Side(msgspec.Struct):
    """A request or response of a resource too large to decode whole."""

    verb: msgspec.Raw = _NULL
    status: msgspec.Raw = _NULL
    size: msgspec.Raw = _NULL
    headers: msgspec.Raw = _NULL
    body: msgspec.Raw = _NULL


class _Pairs(msgspec.Struct):
    request: msgspec.Raw = _NULL
    response: msgspec.Raw = _NULL


class _Resource(msgspec.Struct):
    """A network resource too large to decode whole (it records large bodies)."""

    name: msgspec.Raw = _NULL
    initiatorType: msgspec.Raw = _NULL
    transferSize: msgspec.Raw = _NULL
    duration: msgspec.Raw = _NULL
    startTime: msgspec.Raw = _NULL
    fetchStart: msgspec.Raw = _NULL
    startTimeAbs: msgspec.Raw = _NULL
    fetchStartAbs: msgspec.Raw = _NULL
    responseEndAbs: msgspec.Raw = _NULL
    requestResponsePairs: msgspec.Raw = _NULL


class _Socket(msgspec.Struct):
    socketId: msgspec.Raw = _NULL
    type: msgspec.Raw = _NULL
    name: msgspec.Raw = _NULL
    size: msgspec.Raw = _NULL
    timeStamp: msgspec.Raw = _NULL
    message: msgspec.Raw = _NULL


class _Error(msgspec.Struct):
    """An error object too large to decode whole (ingest checked its fields' types)."""

    event: msgspec.Raw = _NULL
    type: msgspec.Raw = _NULL
    url: msgspec.Raw = _NULL
    timestamp: msgspec.Raw = _NULL
    payload: msgspec.Raw = _NULL
    stackTrace: msgspec.Raw = _NULL


_decode_frames = msgspec.json.Decoder(list[StackFrameShape]).decode
_decode_error = msgspec.json.Decoder(ErrorObjectShape).decode


class _Decoders:
    """msgspec decoders whose lists hold at most `max_items` entries (decoding stops there)."""

    def __init__(self, max_items: int) -> None:
        def capped(item: Any) -> Any:
            return Annotated[list[item], msgspec.Meta(max_length=max_items)]

        events = msgspec.defstruct("Events", [("events", capped(RrwebEvent))])
        payload = msgspec.defstruct(
            "StoredPayload",
            [
                ("events", events),
                ("messages", str | None, None),
                ("resources", str | None, None),
                ("web_socket_events", str | None, None),
                ("errors", capped(msgspec.Raw) | None, None),
            ],
        )
        self.payload: Callable[[bytes], Any] = msgspec.json.Decoder(payload).decode
        self.nested: dict[str, Callable[[str], Any]] = {
            key: msgspec.json.Decoder(
                msgspec.defstruct(f"Nested_{key}", [(key, capped(msgspec.Raw), [])])
            ).decode
            for key in ("messages", "resources", "webSocketEvents")
        }


@functools.lru_cache(maxsize=4)
def _decoders(max_items: int) -> _Decoders:
    return _Decoders(max_items)


class PayloadReader:
    """Reads a payload's parts within `limits` (see the module docstring)."""

    def __init__(self, limits: DerivationLimits) -> None:
        self.limits = limits
        self.decoders = _decoders(limits.max_events_per_payload)

    def value(self, raw: msgspec.Raw) -> Any:
        """A raw JSON value: decoded if it is a string or small enough, else cut JSON text."""
        data = memoryview(raw)
        if bytes(data[:1]) == b'"' or len(data) <= self.limits.max_decoded_bytes:
            try:
                return msgspec.json.decode(raw)
            except _JSON_ERRORS:
                return None
        keep = self.limits.max_text_chars
        head = bytes(data[:keep]).decode("utf-8", "replace")
        return head + cut_marker("bytes of JSON", len(data) - keep)

    def items(self, nested: str | None, key: str) -> Iterator[dict[str, Any]]:
        """The objects in `{key: [...]}` given as text, each decoded within bounds."""
        if not nested:
            return
        try:
            container = self.decoders.nested[key](nested)
        except _JSON_ERRORS as exc:
            log.warning("%s list unreadable: %s", key, exc)
            return
        shapes: dict[str, type[msgspec.Struct]] = {
            "messages": _Console,
            "resources": _Resource,
            "webSocketEvents": _Socket,
        }
        for raw in getattr(container, key):
            item = self.item(raw, shapes[key])
            if item is not None:
                yield item

    def item(self, raw: msgspec.Raw, shape: type[msgspec.Struct]) -> dict[str, Any] | None:
        if len(memoryview(raw)) <= self.limits.max_decoded_bytes:
            try:
                decoded = msgspec.json.decode(raw)
            except _JSON_ERRORS:
                return None
            return decoded if isinstance(decoded, dict) else None
        try:
            fields = msgspec.json.decode(raw, type=shape)
        except _JSON_ERRORS:
            return None
        out = {name: self.value(getattr(fields, name)) for name in fields.__struct_fields__}
        if shape is _Console:
            out["trace"] = self.trace(fields.trace)  # type: ignore[attr-defined]
        elif shape is _Resource:
            out["requestResponsePairs"] = self.pairs(fields.requestResponsePairs)  # type: ignore[attr-defined]
        return out

    def trace(self, raw: msgspec.Raw) -> Any:
        """A trace; one too large to decode is one frame whose source is its cut JSON text."""
        value = self.value(raw)
        if len(memoryview(raw)) > self.limits.max_decoded_bytes and isinstance(value, str):
            return [{"source": value}]
        return value

    def pairs(self, raw: msgspec.Raw) -> Any:
        if len(memoryview(raw)) <= self.limits.max_decoded_bytes:
            return self.value(raw)
        try:
            pairs = msgspec.json.decode(raw, type=_Pairs)
        except _JSON_ERRORS:
            return None
        return {"request": self.side(pairs.request), "response": self.side(pairs.response)}

    def side(self, raw: msgspec.Raw) -> Any:
        if len(memoryview(raw)) <= self.limits.max_decoded_bytes:
            return self.value(raw)
        try:
            side = msgspec.json.decode(raw, type=_Side)
        except _JSON_ERRORS:
            return None
        return {name: self.value(getattr(side, name)) for name in side.__struct_fields__}

    def error(self, raw: msgspec.Raw) -> ErrorObjectShape | None:
        if len(memoryview(raw)) <= self.limits.max_decoded_bytes:
            try:
                return _decode_error(raw)
            except _JSON_ERRORS:
                return None
        try:
            fields = msgspec.json.decode(raw, type=_Error)
        except _JSON_ERRORS:
            return None
        strings = {name: self.value(getattr(fields, name)) for name in ("event", "type", "url")}
        extra = {name: self.value(getattr(fields, name)) for name in ("timestamp", "payload")}
        trace = self.value(fields.stackTrace)
        frames: list[StackFrameShape] | None = None
        if isinstance(trace, str):
            frames = [StackFrameShape(source=trace)]
        elif isinstance(trace, list):
            try:
                frames = _decode_frames(msgspec.json.encode(trace))
            except _JSON_ERRORS:
                frames = None
        return ErrorObjectShape(
            event=strings["event"] if isinstance(strings["event"], str) else "",
            type=strings["type"] if isinstance(strings["type"], str) else "",
            url=strings["url"] if isinstance(strings["url"], str) else "",
            timestamp=extra["timestamp"] if isinstance(extra["timestamp"], str) else None,
            payload=extra["payload"] if isinstance(extra["payload"], str) else None,
            stackTrace=frames,
        )
