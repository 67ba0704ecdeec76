"""Decoding and validating replay payloads: base64 → gzip → JSON → the SDK's payload shape.

The SDK sends `data = base64(gzip(JSON))` where the JSON is the old PushPayload variables:
`events` is `{"events": [rrweb events]}`, `messages`, `resources` and `web_socket_events` are
JSON *strings* wrapping `{"messages": [...]}`, `{"resources": [...]}` and
`{"webSocketEvents": [...]}`, and `errors` is an array of error objects.

Highlight validated none of this at request time and silently dropped what it could not read
later. Here every layer is checked before anything is stored, and a failure names the field:
a client hears at once that its payload is unusable. What is checked is the shape that
storage and processing rely on (types of containers, event `type`/`timestamp`, event `data`
being an object); leaf values inside console messages and resources are kept as they are.

Cost. rrweb event `data` is by far the bulk of a payload (a FullSnapshot is the whole DOM),
so it is decoded as `msgspec.Raw`: its JSON syntax is still checked, but no Python objects
are built for it. Inflation is bounded: a gzip bomb is stopped as soon as its output passes
the limit, so it never reaches memory.
"""

from __future__ import annotations

import binascii
import gzip
import hashlib
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from footlight import nesting
from footlight.ingest.errors import BadInput, PayloadTooLarge
from footlight.processing.rrweb import RrwebEvent
from footlight.store import PayloadSummary

FULL_SNAPSHOT = 2
# Everything msgspec's JSON decoding raises for bad input (invalid UTF-8 is its own error).
JSON_DECODE_ERRORS = (msgspec.DecodeError, RecursionError, UnicodeDecodeError)


class EventsEnvelope(msgspec.Struct):
    events: list[RrwebEvent]


class StackFrameShape(msgspec.Struct):
    functionName: str | None = None
    args: list[Any] | None = None
    fileName: str | None = None
    lineNumber: int | float | None = None
    columnNumber: int | float | None = None
    isEval: bool | None = None
    isNative: bool | None = None
    source: str | None = None


class ErrorObjectShape(msgspec.Struct):
    event: str = ""
    type: str = ""
    url: str = ""
    source: str = ""
    lineNumber: int | float | None = None
    columnNumber: int | float | None = None
    stackTrace: list[StackFrameShape] | None = None
    timestamp: str | None = None
    payload: str | None = None


class PayloadShape(msgspec.Struct):
    """The decompressed payload, as the SDK builds it; processing reads stored ones with it."""

    events: EventsEnvelope
    messages: str | None = None
    resources: str | None = None
    web_socket_events: str | None = None
    errors: list[ErrorObjectShape] | None = None
    is_beacon: bool | None = None
    has_session_unloaded: bool | None = None
    highlight_logs: str | None = None


class _JsonObject(msgspec.Struct):
    """Any JSON object: msgspec checks that it is one and skips its content, in C."""


class _CheckedEvent(msgspec.Struct):
    type: int
    timestamp: float
    data: _JsonObject
    sid: float | None = msgspec.field(default=None, name="_sid")


class _CheckedEvents(msgspec.Struct):
    events: list[_CheckedEvent]


class _CheckedPayload(msgspec.Struct):
    """What ingest checks: `PayloadShape`, with event data only checked to be objects."""

    events: _CheckedEvents
    messages: str | None = None
    resources: str | None = None
    web_socket_events: str | None = None
    errors: list[ErrorObjectShape] | None = None
    is_beacon: bool | None = None
    has_session_unloaded: bool | None = None
    highlight_logs: str | None = None


class _Messages(msgspec.Struct):
    messages: list[_JsonObject] = []


class _Resources(msgspec.Struct):
    resources: list[_JsonObject] = []


class _WebSocketEvents(msgspec.Struct):
    webSocketEvents: list[_JsonObject] = []


decode_payload_shape = msgspec.json.Decoder(PayloadShape).decode
_check_payload = msgspec.json.Decoder(_CheckedPayload).decode
_NESTED: dict[str, msgspec.json.Decoder[Any]] = {
    "messages": msgspec.json.Decoder(_Messages),
    "resources": msgspec.json.Decoder(_Resources),
    "web_socket_events": msgspec.json.Decoder(_WebSocketEvents),
}


@dataclass(frozen=True)
class DecodedPayload:
    """A validated payload: the bytes to keep, their identity, and a summary of the events."""

    body: bytes
    digest: bytes
    summary: PayloadSummary


def _json_error(where: str, exc: Exception) -> BadInput:
    if isinstance(exc, RecursionError):
        return BadInput(nesting.too_deep(where))
    if isinstance(exc, UnicodeDecodeError):
        return BadInput(f"{where} is not valid UTF-8 ({exc.reason})")
    text = str(exc)
    if text.startswith("Invalid UTF-8"):
        # Newer msgspec releases report bad UTF-8 as a DecodeError of their own, older ones
        # raised UnicodeDecodeError: the client hears the same either way.
        return BadInput(f"{where} is not valid UTF-8 ({text})")
    # msgspec reports positions as "at `$.events.events[3].type`"; name the field the client
    # knows, rooted at the argument, instead of "$".
    text = text.replace("`$.", f"`{where}.").replace("`$`", f"`{where}`")
    return BadInput(f"{where} is not a valid payload: {text}")


def decode_base64(data: str, where: str = "data") -> bytes:
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise BadInput(f"{where} is not valid base64: {exc}") from None


def gunzip(compressed: bytes, limit: int, where: str = "data") -> bytes:
    """Inflate a gzip stream (one or more members) to at most `limit` bytes."""
    return inflate(compressed, limit, where)[0]


MAX_GZIP_MEMBERS = 16


def inflate(compressed: bytes, limit: int, where: str = "data") -> tuple[bytes, bytes]:
    """Inflate a gzip stream (one or more members) to at most `limit` bytes.

    Also returns the members' trailers (CRC-32 and length of the inflated bytes, which zlib
    has just verified): an identity of the content that costs nothing to get.
    """
    if not compressed.startswith(b"\x1f\x8b"):
        raise BadInput(f"{where} is not gzip data (it must be base64 of a gzip stream)")
    parts: list[bytes] = []
    trailers: list[bytes] = []
    total = 0
    rest = compressed
    while rest:
        if len(parts) == MAX_GZIP_MEMBERS:
            # Each member costs a copy of what follows it: thousands of empty members make
            # inflating (here and on every read) quadratic. The SDK sends one.
            raise BadInput(f"{where} has more than {MAX_GZIP_MEMBERS} gzip members")
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            chunk = inflater.decompress(rest, limit - total + 1)
        except zlib.error as exc:
            raise BadInput(f"{where} is not valid gzip data: {exc}") from None
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(
                f"{where} inflates to more than {limit} bytes (limit: max_inflated_bytes)"
            )
        parts.append(chunk)
        if not inflater.eof:
            raise BadInput(f"{where} is truncated gzip data")
        consumed = len(rest) - len(inflater.unused_data)
        trailers.append(rest[consumed - 8 : consumed])
        rest = inflater.unused_data
        if rest and not rest.startswith(b"\x1f\x8b"):
            raise BadInput(f"{where} has trailing bytes after the gzip stream")
    return b"".join(parts), b"".join(trailers)


def _check_nested(name: str, value: str | None) -> None:
    if not value:
        return
    try:
        _NESTED[name].decode(value)
    except JSON_DECODE_ERRORS as exc:
        raise _json_error(name, exc) from None


# Epoch milliseconds that fit a JSON-safe (and a database) integer.
_MAX_TIMESTAMP = 2**53


def _summarise(types: Sequence[int], stamps: Sequence[float]) -> PayloadSummary:
    """Count, time span and full-snapshot flag of a payload's events (types and timestamps)."""
    if not stamps:
        return PayloadSummary(0, None, None, False)
    first, last = min(stamps), max(stamps)
    if not -_MAX_TIMESTAMP <= first <= last <= _MAX_TIMESTAMP:
        raise BadInput(
            f"an event timestamp is outside ±{_MAX_TIMESTAMP} (epoch milliseconds):"
            f" {first if abs(first) > _MAX_TIMESTAMP else last}"
        )
    return PayloadSummary(
        event_count=len(stamps),
        first_event_at=int(first),
        last_event_at=int(last),
        has_full_snapshot=FULL_SNAPSHOT in types,
    )


def validate_payload_json(body: bytes) -> PayloadSummary:
    """Check a payload's decompressed JSON against the SDK's shape; summarise its events."""
    try:
        payload = _check_payload(body)
    except JSON_DECODE_ERRORS as exc:
        raise _json_error("data", exc) from None
    _check_nested("messages", payload.messages)
    _check_nested("resources", payload.resources)
    _check_nested("web_socket_events", payload.web_socket_events)
    events = payload.events.events
    return _summarise([e.type for e in events], [e.timestamp for e in events])


def content_key(trailers: bytes) -> bytes:
    """A payload's content identity, from its gzip trailers (CRC-32 and length, per member).

    It is what tells a retry from a new payload that reuses an id (see IncomingPayload), so
    it must be the same when a client compresses the same content again, and it should be
    free: zlib computes and checks these CRCs while inflating. A collision needs the same
    session, the same payload id and the same CRC-32 and length for different content.
    """
    return trailers if len(trailers) == 8 else hashlib.blake2b(trailers, digest_size=16).digest()


def stored_size(data: str) -> int:
    """How many bytes `decode_compressed` keeps of `data` (the gzip it decodes to), without
    decoding it: what a push will add to its session."""
    return len(data) * 3 // 4 - data[-2:].count("=")


def decode_compressed(data: str, max_inflated_bytes: int) -> DecodedPayload:
    """The `data` argument of pushSessionEvents / pushPayloadCompressed, checked."""
    compressed = decode_base64(data)
    body, trailers = inflate(compressed, max_inflated_bytes)
    summary = validate_payload_json(body)
    return DecodedPayload(body=compressed, digest=content_key(trailers), summary=summary)


def encode_legacy(arguments: Mapping[str, Any]) -> DecodedPayload:
    """The arguments of a legacy `pushPayload`, validated and kept in the compressed form.

    GraphQL has already checked their types; what is left is what the schema cannot say
    (event `data` must be an object, the nested JSON strings must parse).
    """
    events = arguments["events"]["events"]
    for index, event in enumerate(events):
        if event is None:
            raise BadInput(f"events.events[{index}] must not be null")
        if not isinstance(event.get("data"), dict):
            raise BadInput(f"events.events[{index}].data must be a JSON object")
    for name in ("messages", "resources", "web_socket_events"):
        _check_nested(name, arguments.get(name))
    try:
        body = msgspec.json.encode(arguments)
    except (TypeError, RecursionError) as exc:  # pragma: no cover - GraphQL coerced these
        raise BadInput(f"pushPayload arguments cannot be stored: {exc}") from None
    summary = _summarise([e["type"] for e in events], [float(e["timestamp"]) for e in events])
    compressed = gzip.compress(body, compresslevel=6, mtime=0)
    return DecodedPayload(body=compressed, digest=content_key(compressed[-8:]), summary=summary)
