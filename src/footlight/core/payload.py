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
the limit, so it never reaches memory. Each list of a payload (rrweb events, console
messages, resources, websocket events, errors) holds at most `max_events_per_payload`
entries: msgspec stops building the list at that length, so 64 MiB of tiny events costs a
refusal, not a few hundred MB of structs here and again in processing. The SDK's pushes
carry tens to a few thousand events (a FullSnapshot, the whole DOM, is one).
"""

from __future__ import annotations

import binascii
import functools
import gzip
import hashlib
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, cast

import msgspec
import pybase64
from zlib_ng import zlib_ng

from footlight.core import nesting
from footlight.core.rrweb import RrwebEvent
from footlight.errors import BadInput, IngestError, PayloadTooLarge

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


_LISTS = {
    "events.events": "rrweb events",
    "errors": "errors",
    "messages": "console messages",
    "resources": "resources",
    "webSocketEvents": "websocket events",
}


class _Checkers:
    """The decoders that check a payload whose lists hold at most `max_items` entries."""

    def __init__(self, max_items: int) -> None:
        self.max_items = max_items

        def capped(item: Any) -> Any:
            return Annotated[list[item], msgspec.Meta(max_length=max_items)]

        events = msgspec.defstruct("CheckedEvents", [("events", capped(_CheckedEvent))])
        # What ingest checks: `PayloadShape`, with event data only checked to be objects.
        payload = msgspec.defstruct(
            "CheckedPayload",
            [
                ("events", events),
                ("messages", str | None, None),
                ("resources", str | None, None),
                ("web_socket_events", str | None, None),
                ("errors", capped(ErrorObjectShape) | None, None),
                ("is_beacon", bool | None, None),
                ("has_session_unloaded", bool | None, None),
                ("highlight_logs", str | None, None),
            ],
        )
        self.payload = msgspec.json.Decoder(payload)
        self.nested: dict[str, msgspec.json.Decoder[Any]] = {
            name: msgspec.json.Decoder(
                msgspec.defstruct(f"Checked_{key}", [(key, capped(_JsonObject), [])])
            )
            for name, key in (
                ("messages", "messages"),
                ("resources", "resources"),
                ("web_socket_events", "webSocketEvents"),
            )
        }


@functools.lru_cache(maxsize=4)
def _checkers(max_items: int) -> _Checkers:
    return _Checkers(max_items)


decode_payload_shape = msgspec.json.Decoder(PayloadShape).decode
DEFAULT_MAX_EVENTS = 100_000


class PayloadSummary(msgspec.Struct, frozen=True):
    """Cheap facts about a payload's rrweb events, computed once at ingest."""

    event_count: int
    first_event_at: int | None
    last_event_at: int | None
    has_full_snapshot: bool


class DecodedPayload(msgspec.Struct, frozen=True):
    """A validated payload: the bytes to keep, their identity, and a summary of the events."""

    body: bytes
    digest: bytes
    summary: PayloadSummary


def _json_error(where: str, exc: Exception, max_items: int | None = None) -> IngestError:
    if isinstance(exc, RecursionError):
        return BadInput(nesting.too_deep(where))
    text = str(exc)
    if isinstance(exc, UnicodeDecodeError) or text.startswith("Invalid UTF-8"):
        # msgspec before 0.23 raised UnicodeDecodeError, later ones a DecodeError of their own
        # wording: the client hears footlight's words, whichever msgspec is installed.
        return BadInput(f"{where} is not valid UTF-8 text (JSON must be UTF-8)")
    if max_items is not None and "Expected `array` of length <=" in text:
        path = text.rsplit("`$", 1)[-1].strip("`. ")
        what = _LISTS.get(path, "entries")
        # The events are `data`'s bulk, and a nested list is its own argument's only list.
        field = f"{where}.{path}" if path == "errors" else where
        return PayloadTooLarge(
            f"{field} holds more than {max_items} {what} (limit: max_events_per_payload);"
            " the SDK sends far fewer in one push"
        )
    # msgspec reports positions as "at `$.events.events[3].type`"; name the field the client
    # knows, rooted at the argument, instead of "$".
    text = text.replace("`$.", f"`{where}.").replace("`$`", f"`{where}`")
    return BadInput(f"{where} is not a valid payload: {text}")


def decode_base64(data: str, where: str = "data") -> bytes:
    """`data` decoded, as strictly as the standard library's strict mode decodes it.

    pybase64 (SIMD) decodes a push's few KB ~10 times faster; what it refuses is decoded
    again by the standard library, so a refusal's message is the same as ever (and input
    both would refuse is refused whichever refuses it: tests/core/test_payload.py)."""
    try:
        return pybase64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise BadInput(f"{where} is not valid base64: {exc}") from None


def gunzip(compressed: bytes, limit: int, where: str = "data") -> bytes:
    """Inflate a gzip stream (one or more members) to at most `limit` bytes."""
    return inflate(compressed, limit, where)[0]


MAX_GZIP_MEMBERS = 16
_INFLATE_ERROR = cast(type[Exception], zlib_ng.error)
"""zlib-ng's error class (its stub calls it an instance)."""


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
        if len(trailers) == MAX_GZIP_MEMBERS:
            # Each member costs a copy of what follows it: thousands of empty members make
            # inflating (here and on every read) quadratic. The SDK sends one.
            raise BadInput(f"{where} has more than {MAX_GZIP_MEMBERS} gzip members")
        inflater = _gzip_inflater()
        room = min(int.from_bytes(rest[-4:], "little"), limit - total) + 1
        try:
            while True:
                chunk = inflater.decompress(rest, room)
                rest = b""
                total += len(chunk)
                if total > limit:
                    raise PayloadTooLarge(
                        f"{where} inflates to more than {limit} bytes (limit: max_inflated_bytes)"
                    )
                parts.append(chunk)
                if inflater.eof or inflater.needs_input or not chunk:
                    break  # nothing more came: not a loop that spins (then "truncated")
                room = limit - total + 1
        except _INFLATE_ERROR as exc:
            raise BadInput(f"{where} is not valid gzip data: {exc}") from None
        if not inflater.eof:
            raise BadInput(f"{where} is truncated gzip data")
        rest = inflater.unused_data
        trailers.append(_trailer_before(rest, compressed))
        if rest and not rest.startswith(b"\x1f\x8b"):
            raise BadInput(f"{where} has trailing bytes after the gzip stream")
    return b"".join(parts), b"".join(trailers)


def _gzip_inflater() -> zlib_ng._ZlibDecompressor:
    """An inflater of one gzip member.

    zlib-ng: zlib's API and checks (the gzip CRC-32 and length among them), about 1.6x
    faster on a push and 3x on a 300 KB snapshot. Its `_ZlibDecompressor` (what its gzip
    module reads with, as the standard library's gzip does since Python 3.12) fills a buffer
    of the size asked for in one call, and a gzip stream ends with the size of its last
    member: asked for that, the SDK's one member inflates in one call (most pushes took two
    16 KB steps of `decompressobj`), and each call lets go of the interpreter lock and waits
    to take it back. The size is only a hint: a wrong one costs more calls, and no call is
    given more room than the limit leaves (`inflate`)."""
    return zlib_ng._ZlibDecompressor(wbits=16 + zlib_ng.MAX_WBITS)  # type: ignore[no-untyped-call]  # the stub leaves __init__ unannotated


def _trailer_before(rest: bytes, compressed: bytes) -> bytes:
    """The 8-byte gzip trailer (CRC-32 and length) of the member that ends where `rest`,
    the rest of `compressed`, begins."""
    end = len(compressed) - len(rest)
    return compressed[end - 8 : end]


def _check_nested(name: str, value: str | None, max_items: int = DEFAULT_MAX_EVENTS) -> None:
    if not value:
        return
    try:
        _checkers(max_items).nested[name].decode(value)
    except JSON_DECODE_ERRORS as exc:
        raise _json_error(name, exc, max_items) from None


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


def validate_payload_json(body: bytes, max_items: int = DEFAULT_MAX_EVENTS) -> PayloadSummary:
    """Check a payload's decompressed JSON against the SDK's shape; summarise its events.

    Each of its lists may hold at most `max_items` entries (`max_events_per_payload`).
    """
    try:
        payload: Any = _checkers(max_items).payload.decode(body)
    except JSON_DECODE_ERRORS as exc:
        raise _json_error("data", exc, max_items) from None
    _check_nested("messages", payload.messages, max_items)
    _check_nested("resources", payload.resources, max_items)
    _check_nested("web_socket_events", payload.web_socket_events, max_items)
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


def decode_compressed(
    data: str, max_inflated_bytes: int, max_items: int = DEFAULT_MAX_EVENTS
) -> DecodedPayload:
    """The `data` argument of pushSessionEvents / pushPayloadCompressed, checked."""
    compressed = decode_base64(data)
    body, trailers = inflate(compressed, max_inflated_bytes)
    summary = validate_payload_json(body, max_items)
    return DecodedPayload(body=compressed, digest=content_key(trailers), summary=summary)


def encode_legacy(
    arguments: Mapping[str, Any], max_items: int = DEFAULT_MAX_EVENTS
) -> DecodedPayload:
    """The arguments of a legacy `pushPayload`, validated and kept in the compressed form.

    GraphQL has already checked their types; what is left is what the schema cannot say
    (event `data` must be an object, the nested JSON strings must parse, no list longer than
    `max_items`).
    """
    events = arguments["events"]["events"]
    for name, what in (("events", "rrweb events"), ("errors", "errors")):
        items = events if name == "events" else arguments.get("errors") or []
        if len(items) > max_items:
            raise PayloadTooLarge(
                f"{name} holds more than {max_items} {what} (limit: max_events_per_payload);"
                " the SDK sends far fewer in one push"
            )
    for index, event in enumerate(events):
        if event is None:
            raise BadInput(f"events.events[{index}] must not be null")
        if not isinstance(event.get("data"), dict):
            raise BadInput(f"events.events[{index}].data must be a JSON object")
    for name in ("messages", "resources", "web_socket_events"):
        _check_nested(name, arguments.get(name), max_items)
    try:
        body = msgspec.json.encode(arguments)
    except (TypeError, RecursionError) as exc:  # pragma: no cover - GraphQL coerced these
        raise BadInput(f"pushPayload arguments cannot be stored: {exc}") from None
    summary = _summarise([e["type"] for e in events], [float(e["timestamp"]) for e in events])
    compressed = gzip.compress(body, compresslevel=6, mtime=0)
    return DecodedPayload(body=compressed, digest=content_key(compressed[-8:]), summary=summary)
