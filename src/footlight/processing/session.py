"""One session's stored input → its summary, timelines and errors.

Pure: `derive_session` reads the session's payloads (gzip JSON, as received) and returns a
`Derived` for the store to swap in. Stored payloads passed validation at ingest, so their
shape is known; their leaf values are the SDK's to choose, so every field read here is read
defensively: a value of an unexpected type is skipped, never fatal to the session.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

import msgspec

from footlight.ingest.payload import ErrorObjectShape, decode_payload_shape
from footlight.processing.fingerprint import error_message, fingerprint
from footlight.processing.records import (
    ConsoleMessage,
    ErrorOccurrence,
    NetworkRequest,
    TrackEvent,
    WebSocketEvent,
)
from footlight.processing.replay_metrics import replay_metrics
from footlight.processing.rrweb import EventType, RrwebEvent, custom_data
from footlight.processing.useragent import parse_user_agent
from footlight.processing.values import json_object, nested_list, number, stack_frames, text, whole
from footlight.store.base import (
    Backfill,
    Derived,
    DerivedError,
    SessionInput,
    SessionSummary,
)

log = logging.getLogger("footlight.processing")


def console_messages(messages: str | None) -> Iterator[ConsoleMessage]:
    """`{"messages": [{type, trace, value, attributes, time}]}` → console messages."""
    for m in nested_list(messages, "messages"):
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
            level=text(m.get("type")) or "log",
            message=joined,
            trace=stack_frames(m.get("trace")),
            attributes=json_object(m.get("attributes")),
        )


def _first(entry: Mapping[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = number(entry.get(key))
        if value is not None:
            return value
    return None


def network_requests(resources: str | None, time_origin: int) -> Iterator[NetworkRequest]:
    """`{"resources": [...]}` → requests.

    With `recordHeadersAndBody` each entry has absolute times (`*Abs`) and the request and
    response; otherwise it is a PerformanceResourceTiming, timed relative to the page's
    time origin, which is approximated by the session start (as Highlight did).
    """
    for r in nested_list(resources, "resources"):
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
            method=text(request.get("verb")) if request else None,
            url=url,
            status=whole(response.get("status")) if response else None,
            initiator=text(r.get("initiatorType")),
            request={k: request.get(k) for k in ("headers", "body")} if request else None,
            response={k: response.get(k) for k in ("headers", "body", "size")}
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
    if isinstance(traceparent, str) and traceparent.count("-") == 3:
        return traceparent.split("-")[1].lower()
    return None


def websocket_events(events: str | None) -> Iterator[WebSocketEvent]:
    for w in nested_list(events, "webSocketEvents"):
        timestamp = number(w.get("timeStamp"))
        if timestamp is None:
            continue
        yield WebSocketEvent(
            timestamp=timestamp,
            socket_id=str(w.get("socketId", "")),
            type=text(w.get("type")) or "",
            name=text(w.get("name")) or "",
            size=whole(w.get("size")),
            message=text(w.get("message")),
        )


def _epoch_ms(moment: str | None) -> int | None:
    if not moment:
        return None
    try:
        return int(datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def error_occurrences(
    errors: Iterable[ErrorObjectShape], fallback: int
) -> Iterator[ErrorOccurrence]:
    for e in errors:
        yield ErrorOccurrence(
            timestamp=_epoch_ms(e.timestamp) or fallback,
            type=e.type or "error",
            message=error_message(e.event),
            frames=stack_frames(e.stackTrace or []),
            url=e.url or None,
            payload=e.payload,
        )


def track_events(events: Iterable[RrwebEvent]) -> Iterator[TrackEvent]:
    """Custom events tagged `Track` (what `H.track` records); the name is its `event` key."""
    for event in events:
        if event.type != EventType.CUSTOM:
            continue
        try:
            data = custom_data(event.data)
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
            continue
        if "Track" not in data.tag:
            continue
        try:
            payload = msgspec.json.decode(data.payload)
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
            continue
        properties = json_object(payload) if isinstance(payload, str) else payload
        if not isinstance(properties, dict):
            properties = {"payload": payload}
        properties = dict(properties)
        name = properties.pop("event", None) or properties.pop("segment-event", None)
        yield TrackEvent(int(event.timestamp), str(name or "unknown_event"), properties)


def _language(accept_language: str | None) -> str | None:
    if not accept_language:
        return None
    return accept_language.split(",", 1)[0].split(";", 1)[0].strip() or None


def derive_session(data: SessionInput, origin: str) -> Derived:
    session = data.session
    secure_id = session.secure_id
    events: list[RrwebEvent] = []
    console: list[ConsoleMessage] = []
    network: list[NetworkRequest] = []
    websocket: list[WebSocketEvent] = []
    errors: list[ErrorOccurrence] = []
    for stored in data.payloads:
        try:
            payload = decode_payload_shape(gzip.decompress(stored.body))
        except (OSError, EOFError, msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
            # Validated at ingest; only a payload stored by an older, laxer footlight gets here.
            log.warning("session %s: payload %d unreadable: %s", secure_id, stored.seq, exc)
            continue
        events.extend(payload.events.events)
        console.extend(console_messages(payload.messages))
        network.extend(network_requests(payload.resources, session.created_at))
        websocket.extend(websocket_events(payload.web_socket_events))
        fallback = stored.summary.last_event_at or stored.received_at
        errors.extend(error_occurrences(payload.errors or [], fallback))

    metrics = replay_metrics(events)
    device = parse_user_agent(session.user_agent)
    pages = list(metrics.pages)
    summary = SessionSummary(
        started_at=metrics.first_event_at,
        ended_at=metrics.last_event_at,
        length_ms=metrics.length_ms,
        active_ms=metrics.active_ms,
        pages_visited=len(pages),
        click_count=metrics.click_count,
        rage_click_count=len(metrics.rage_clicks),
        event_count=len(events),
        payload_count=len(data.payloads),
        error_count=len(errors),
        console_count=len(console),
        network_count=len(network),
        browser_name=device.browser_name,
        browser_version=device.browser_version,
        os_name=device.os_name,
        os_version=device.os_version,
        device_type=device.device_type,
        language=_language(session.accept_language),
        landing_page=pages[0].url if pages else None,
        exit_page=pages[-1].url if pages else None,
        details={
            "intervals": [asdict(i) for i in metrics.intervals],
            "rage_clicks": [asdict(r) for r in metrics.rage_clicks],
            "event_counts": list(metrics.event_counts),
            "user_interactions": metrics.user_interaction_count,
        },
    )
    backfill = None
    if session.identifier and data.client_id:
        email = next((f.value for f in data.fields if (f.kind, f.key) == ("user", "email")), None)
        backfill = Backfill(
            session.project_id, data.client_id, session.identifier, session.user_object, email
        )
    return Derived(
        origin=origin,
        session_id=session.id,
        summary=summary,
        pages=pages,
        console=[(secure_id, m) for m in console],
        network=[(secure_id, n) for n in network],
        websocket=[(secure_id, w) for w in websocket],
        errors=[
            DerivedError(e, fingerprint(e.type, e.message, e.frames), secure_id, session.project_id)
            for e in errors
        ],
        tracks=[(secure_id, t) for t in track_events(events)],
        backfill=backfill,
    )
