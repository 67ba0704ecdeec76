"""One session's stored input → its summary, timelines and errors, a payload at a time.

A `SessionDeriver` is fed the session's payloads (gzip JSON, as received) in replay order, a
page at a time, and returns a `Derived` for the store to swap in. It never holds the
session: each payload is inflated, decoded, reduced at once to what the summary and the
rows need (replay facts in `ReplayAccumulator`, rows kept within `limits.RowBudget`), and
dropped. What processing holds is one payload (at most `max_inflated_bytes`, plus about
250 bytes per event and at most `max_events_per_payload` events) and the bounded state the
limits allow (see `footlight.processing.limits`).

Every field of a stored payload is read defensively, within bounds
(`footlight.processing.payload_reader`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import msgspec

from footlight.core.payload import ErrorObjectShape, inflate
from footlight.core.records import (
    ConsoleMessage,
    ErrorOccurrence,
    NetworkRequest,
    TrackEvent,
    WebSocketEvent,
)
from footlight.core.rrweb import EventType, RrwebEvent, custom_data
from footlight.errors import IngestError
from footlight.processing.fingerprint import error_message, fingerprint
from footlight.processing.limits import (
    DerivationLimits,
    RowBudget,
    clip_frames,
    clip_json,
    clip_optional,
    clip_text,
    clipped_error,
)
from footlight.processing.payload_reader import PayloadReader
from footlight.processing.replay_metrics import ReplayAccumulator
from footlight.processing.useragent import Device, parse_user_agent
from footlight.processing.values import json_object, number, stack_frames, text, whole
from footlight.store.base import (
    Backfill,
    Derived,
    DerivedOccurrence,
    PayloadKey,
    SessionInput,
    SessionSummary,
    StoredPayload,
)

log = logging.getLogger("footlight.processing")

DAY_MS = 86_400_000
_JSON_ERRORS = (msgspec.DecodeError, RecursionError, UnicodeDecodeError)
_encode = msgspec.json.Encoder().encode


# -- the records ---------------------------------------------------------------------------


def console_messages(
    items: Iterable[Mapping[str, Any]], limits: DerivationLimits
) -> Iterator[ConsoleMessage]:
    """`{"messages": [{type, trace, value, attributes, time}]}` items → console messages."""
    for m in items:
        time = whole(m.get("time"))
        if time is None:
            continue
        values = m.get("value")
        parts = values if isinstance(values, list) else [values] if values is not None else []
        joined = " ".join(
            p if isinstance(p, str) else msgspec.json.encode(p).decode() for p in parts
        )
        yield ConsoleMessage(
            timestamp=time,
            level=clip_text(text(m.get("type")) or "log", limits.max_text_chars),
            message=clip_text(joined, limits.max_text_chars),
            trace=clip_frames(stack_frames(m.get("trace")), limits),
            attributes=clip_json(json_object(m.get("attributes")), limits.max_text_chars),
        )


def _first(entry: Mapping[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = number(entry.get(key))
        if value is not None:
            return value
    return None


def network_requests(
    items: Iterable[Mapping[str, Any]], time_origin: int, limits: DerivationLimits
) -> Iterator[NetworkRequest]:
    """`{"resources": [...]}` items → requests.

    With `recordHeadersAndBody` each entry has absolute times (`*Abs`) and the request and
    response; otherwise it is a PerformanceResourceTiming, timed relative to the page's
    time origin, which is approximated by the session start (as Highlight did).
    """
    limit = limits.max_text_chars
    for r in items:
        url = text(r.get("name"))
        if url is None:
            continue
        start = _first(r, "startTimeAbs", "fetchStartAbs")
        end = _first(r, "responseEndAbs")
        if start is None:
            relative = _first(r, "startTime", "fetchStart")
            if relative is None:
                continue
            start = time_origin + relative
            duration = number(r.get("duration"))
            end = start + duration if duration is not None else None
        pairs = r.get("requestResponsePairs")
        request = pairs.get("request") if isinstance(pairs, dict) else None
        response = pairs.get("response") if isinstance(pairs, dict) else None
        request = request if isinstance(request, dict) else None
        response = response if isinstance(response, dict) else None
        yield NetworkRequest(
            start=start,
            end=end,
            method=clip_optional(text(request.get("verb")), limit) if request else None,
            url=clip_text(url, limit),
            status=whole(response.get("status")) if response else None,
            initiator=clip_optional(text(r.get("initiatorType")), limit),
            request=clip_json({k: request.get(k) for k in ("headers", "body")}, limit)
            if request
            else None,
            response=clip_json({k: response.get(k) for k in ("headers", "body", "size")}, limit)
            if response
            else None,
            transfer_size=whole(r.get("transferSize")),
            trace_id=_trace_id(request),
        )


def _trace_id(request: Mapping[str, Any] | None) -> str | None:
    """The W3C trace id the SDK put on a traced request, to match its OTLP span."""
    headers = request.get("headers") if request else None
    if not isinstance(headers, dict):
        return None
    traceparent = headers.get("traceparent")
    if isinstance(traceparent, str) and traceparent.count("-") == 3 and len(traceparent) < 100:
        return traceparent.split("-")[1].lower()
    return None


def websocket_events(
    items: Iterable[Mapping[str, Any]], limits: DerivationLimits
) -> Iterator[WebSocketEvent]:
    limit = limits.max_text_chars
    for w in items:
        timestamp = number(w.get("timeStamp"))
        if timestamp is None:
            continue
        yield WebSocketEvent(
            timestamp=timestamp,
            socket_id=clip_text(str(w.get("socketId", "")), limit),
            type=clip_text(text(w.get("type")) or "", limit),
            name=clip_text(text(w.get("name")) or "", limit),
            size=whole(w.get("size")),
            message=clip_optional(text(w.get("message")), limit),
        )


def _epoch_ms(moment: str | None) -> int | None:
    """ISO 8601 as epoch ms (a time without an offset is UTC); None if it is not one."""
    if not moment:
        return None
    try:
        parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        ms = parsed.timestamp() * 1000
    except (ValueError, OverflowError):
        return None
    return int(ms) if math.isfinite(ms) else None


def error_time(moment: str | None, stored: StoredPayload) -> int:
    """When a payload's error happened: its own timestamp if plausible, else the payload's.

    Plausible means no earlier than 1970, no later than a day after the payload reached the
    server (nothing is reported from the future, and a far-future time would sort its
    error group first for good), and, if the payload's events have such times, within a day
    of them: the error happened while they were recorded. Anything else (a broken client
    clock, `9999-12-31T23:59:59-14:00`, `0001-01-01T00:00:00+14:00`) is replaced by the
    payload's time: its last event's if plausible, else when it was received.
    """
    latest = stored.received_at + DAY_MS

    def sane(t: int | None) -> bool:
        return t is not None and 0 <= t <= latest

    summary = stored.summary
    last = summary.last_event_at
    fallback = last if last is not None and sane(last) else stored.received_at
    t = _epoch_ms(moment)
    if t is None or not sane(t):
        return fallback
    span = [x for x in (summary.first_event_at, summary.last_event_at) if x is not None and sane(x)]
    if span and not min(span) - DAY_MS <= t <= max(span) + DAY_MS:
        return fallback
    return t


def bounded_error_message(event: str, limits: DerivationLimits) -> str:
    """`error_message`, for an `event` small enough to decode; larger ones are plain text."""
    if len(event) > limits.max_decoded_bytes:
        return clip_text(event, limits.max_text_chars)
    return error_message(event)


def error_occurrences(
    errors: Iterable[ErrorObjectShape], stored: StoredPayload, limits: DerivationLimits
) -> Iterator[ErrorOccurrence]:
    for e in errors:
        yield clipped_error(
            ErrorOccurrence(
                timestamp=error_time(e.timestamp, stored),
                type=e.type or "error",
                message=bounded_error_message(e.event, limits),
                frames=stack_frames(e.stackTrace or []),
                url=e.url or None,
                payload=e.payload,
            ),
            limits,
        )


def track_events(events: Iterable[RrwebEvent], limits: DerivationLimits) -> Iterator[TrackEvent]:
    """Custom events tagged `Track` (what `H.track` records); the name is its `event` key."""
    reader = PayloadReader(limits)
    for event in events:
        if event.type != EventType.CUSTOM or not math.isfinite(event.timestamp):
            continue
        try:
            data = custom_data(event.data)
        except _JSON_ERRORS:
            continue
        if "Track" not in data.tag:
            continue
        payload = reader.value(data.payload)
        if isinstance(payload, str) and len(payload) > limits.max_decoded_bytes:
            properties: Any = {"payload": payload}  # too large to read as JSON: kept as text
        else:
            properties = json_object(payload) if isinstance(payload, str) else payload
        if not isinstance(properties, dict):
            properties = {"payload": payload}
        properties = dict(properties)
        name = properties.pop("event", None) or properties.pop("segment-event", None)
        yield TrackEvent(
            int(event.timestamp),
            clip_text(str(name or "unknown_event"), limits.max_text_chars),
            clip_json(properties, limits.max_text_chars),
        )


def _language(accept_language: str | None) -> str | None:
    if not accept_language:
        return None
    return accept_language.split(",", 1)[0].split(";", 1)[0].strip() or None


def _size(record: Any) -> int:
    """What a derived row weighs against the session's byte budget: its JSON size."""
    return len(_encode(record))


_DERIVER_BYTES = 4096
"""A deriver's own objects, its session and its counts: ~3.3 KB measured (tracemalloc) after
one payload of a captured SDK session, rounded up."""


class SessionDeriver:
    """Derives one session from its payloads, fed in replay order (see the module docstring)."""

    def __init__(self, data: SessionInput, origin: str, limits: DerivationLimits) -> None:
        self._data = data
        self._origin = origin
        self._limits = limits
        self._reader = PayloadReader(limits)
        self._budget = RowBudget(limits)
        self._replay = ReplayAccumulator(
            max_activity_events=limits.max_activity_events,
            max_pages=limits.max_rows_per_kind,
            keep_page=self._keep_page,
        )
        self._secure_id = data.session.secure_id
        self._console: list[tuple[str, ConsoleMessage]] = []
        self._network: list[tuple[str, NetworkRequest]] = []
        self._websocket: list[tuple[str, WebSocketEvent]] = []
        self._errors: list[DerivedOccurrence] = []
        self._tracks: list[tuple[str, TrackEvent]] = []
        self._seen = {"console": 0, "network": 0, "errors": 0}
        self._payloads = 0
        self._unreadable = 0
        self._device: Device | None = None

    @property
    def weight(self) -> int:
        """Bytes held between runs, about (a live session's deriver is kept for its next
        run): the replay metrics' facts, and a few KB for the rest."""
        return self._replay.weight + _DERIVER_BYTES

    def _keep_page(self, url: str) -> str | None:
        kept = clip_text(url, self._limits.max_text_chars)
        return kept if self._budget.keep("pages", len(kept) + 32) else None

    def _keep(self, kind: str, rows: list[Any], record: Any) -> None:
        if self._budget.keep(kind, _size(record)):
            rows.append((self._secure_id, record))

    def add_payloads(self, page: list[StoredPayload]) -> None:
        """Add a page of payloads, one at a time, each dropped once read."""
        while page:
            self.add_payload(page.pop(0))

    def add_payload(self, stored: StoredPayload) -> None:
        self._payloads += 1
        limits = self._limits
        try:
            body = inflate(stored.body, limits.max_inflated_bytes)[0]
            payload = self._reader.decoders.payload(body)
        except (IngestError, *_JSON_ERRORS) as exc:
            # Validated at ingest; only a payload stored by an older, laxer footlight (or
            # under larger limits) gets here.
            self._unreadable += 1
            message = exc.message if isinstance(exc, IngestError) else str(exc)
            log.warning(
                "session %s: payload %d unreadable: %s", self._secure_id, stored.seq, message
            )
            return
        del body
        events = payload.events.events
        for event in events:
            self._replay.add(event)
        for track in track_events(events, limits):
            self._keep("tracks", self._tracks, track)
        del events
        reader = self._reader
        for console in console_messages(reader.items(payload.messages, "messages"), limits):
            self._seen["console"] += 1
            self._keep("console", self._console, console)
        created_at = self._data.session.created_at
        resources = reader.items(payload.resources, "resources")
        for request in network_requests(resources, created_at, limits):
            self._seen["network"] += 1
            self._keep("network", self._network, request)
        sockets = reader.items(payload.web_socket_events, "webSocketEvents")
        for socket in websocket_events(sockets, limits):
            self._keep("websocket", self._websocket, socket)
        errors = (e for raw in payload.errors or [] if (e := reader.error(raw)) is not None)
        session = self._data.session
        for occurrence in error_occurrences(errors, stored, limits):
            self._seen["errors"] += 1
            if self._budget.keep("errors", _size(occurrence)):
                self._errors.append(
                    DerivedOccurrence(
                        occurrence,
                        fingerprint(occurrence.type, occurrence.message, occurrence.frames),
                        self._secure_id,
                        session.project_id,
                    )
                )

    def finish(self) -> Derived:
        """The whole session's summary and rows."""
        return self._derived(self._origin)

    def take(self, origin: str, through: PayloadKey | None) -> Derived:
        """The summary so far and the rows derived since the last `take` (which this one
        hands over: the deriver keeps only what the summary and the row budget need), for a
        live session's rows under `origin`, covering payloads up to `through`."""
        derived = self._derived(origin)
        derived.through = through
        self.drop_rows()
        return derived

    def drop_rows(self) -> None:
        """Forget the rows derived so far (already stored); the summary's counts stay."""
        self._console, self._network, self._websocket = [], [], []
        self._errors, self._tracks = [], []

    def _derived(self, origin: str) -> Derived:
        data, session = self._data, self._data.session
        metrics = self._replay.result()
        if self._device is None:  # once: a live session's summary is taken after every run
            self._device = parse_user_agent(session.user_agent)
        device = self._device
        pages = list(metrics.pages)
        details: dict[str, Any] = {
            "intervals": [asdict(i) for i in metrics.intervals],
            "rage_clicks": [asdict(r) for r in metrics.rage_clicks],
            "event_counts": list(metrics.event_counts),
            "user_interactions": metrics.user_interaction_count,
        }
        # Only when something was left out, so a normal session's details are as before.
        not_kept = dict(self._budget.not_kept)
        if self._replay.pages_not_kept:
            not_kept["pages"] = self._replay.pages_not_kept
        if not_kept:
            details["not_kept"] = not_kept
        if self._replay.activity_events_not_analysed:
            details["activity_events_not_analysed"] = self._replay.activity_events_not_analysed
        if self._unreadable:
            details["payloads_unreadable"] = self._unreadable
        summary = SessionSummary(
            started_at=metrics.first_event_at,
            ended_at=metrics.last_event_at,
            length_ms=metrics.length_ms,
            active_ms=metrics.active_ms,
            pages_visited=len(pages),
            click_count=metrics.click_count,
            rage_click_count=len(metrics.rage_clicks),
            event_count=self._replay.event_count,
            payload_count=self._payloads,
            error_count=self._seen["errors"],
            console_count=self._seen["console"],
            network_count=self._seen["network"],
            browser_name=device.browser_name,
            browser_version=device.browser_version,
            os_name=device.os_name,
            os_version=device.os_version,
            device_type=device.device_type,
            language=_language(session.accept_language),
            landing_page=pages[0].url if pages else None,
            exit_page=pages[-1].url if pages else None,
            details=details,
        )
        backfill = None
        if session.identifier and data.client_id:
            backfill = Backfill(
                session.project_id,
                data.client_id,
                session.identifier,
                session.user_object,
                data.email,
            )
        return Derived(
            origin=origin,
            session_id=session.id,
            summary=summary,
            pages=pages,
            console=self._console,
            network=self._network,
            websocket=self._websocket,
            errors=self._errors,
            tracks=self._tracks,
            backfill=backfill,
        )


def derive_session(
    data: SessionInput,
    payloads: Iterable[StoredPayload],
    origin: str,
    limits: DerivationLimits | None = None,
) -> Derived:
    """A whole session at once, from payloads already read (for tests and tools)."""
    deriver = SessionDeriver(data, origin, limits or DerivationLimits())
    for stored in payloads:
        deriver.add_payload(stored)
    return deriver.finish()
