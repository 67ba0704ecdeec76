"""How much processing keeps of what a stranger sent, and how it cuts the rest.

Everything a session's payloads hold was chosen by whoever sent them: the public ingest
routes take anyone's pushes. Processing turns them into rows (console messages, network
requests, errors...) written in the one transaction that completes the job, and that
transaction holds the store's single writer while it runs. So what one session can make
processing hold and write is bounded here:

* text a row keeps from a stranger (a message, a URL, a stack frame's fields, a body, a
  property) is cut at `max_text_chars` characters, and JSON values (properties, headers,
  attributes) at about that many characters in all, each with a visible marker saying how
  much was cut; a trace keeps its first `max_stack_frames` frames and a marker frame;
* a session keeps its first `max_rows_per_kind` rows of each kind, and rows only while their
  JSON size adds up to at most `max_bytes_per_session`; what is not kept is counted in the
  session's summary (`details.not_kept`), so no number silently loses it;
* activity metrics keep a few numbers for at most `max_activity_events` events
  (see `replay_metrics.ReplayAccumulator`).

For a normal session none of these bite, and what it derives is unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from footlight.config import Limits
from footlight.core.records import (
    ConsoleMessage,
    ErrorOccurrence,
    NetworkRequest,
    StackFrame,
)

if TYPE_CHECKING:
    from footlight.store.base import BackendErrorReport, Derived

MiB = 1024 * 1024
DAY_MS = 86_400_000
MAX_JSON_DEPTH = 32
"""JSON values nested deeper than this are replaced by a marker (the SDK's are shallow)."""


@dataclass(frozen=True)
class DerivationLimits:
    max_inflated_bytes: int = 64 * MiB
    max_events_per_payload: int = 100_000
    max_rows_per_kind: int = 5_000
    max_text_chars: int = 16_384
    max_stack_frames: int = 100
    max_bytes_per_session: int = 16 * MiB
    max_activity_events: int = 500_000
    max_backend_services: int = 100

    @classmethod
    def from_limits(cls, limits: Limits) -> DerivationLimits:
        return cls(
            max_inflated_bytes=limits.max_inflated_bytes,
            max_events_per_payload=limits.max_events_per_payload,
            max_rows_per_kind=limits.max_derived_rows_per_session,
            max_text_chars=limits.max_derived_text_chars,
            max_stack_frames=limits.max_stack_frames,
            max_bytes_per_session=limits.max_derived_bytes_per_session,
            max_activity_events=limits.max_activity_events_per_session,
            max_backend_services=limits.max_backend_services,
        )

    @property
    def max_decoded_bytes(self) -> int:
        """The largest piece of a stranger's JSON (one console message, one resource, one
        value of it) decoded into Python objects as a whole; a larger one is read field by
        field, and a value that is still too large is kept as cut JSON text.

        Generic JSON costs up to ~25x its size in Python objects (`[{},{},...]`), so this
        bounds what one piece costs; it is large enough that any piece whose text would be
        kept uncut is decoded as usual.
        """
        return 4 * self.max_text_chars + 4096


def cut_marker(what: str, count: int) -> str:
    return f"… [cut: {count:,} more {what}]"


_MARKED = re.compile(r"… \[cut: [\d,]+ more [a-zA-Z ]+\]\Z")


def clip_text(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters and a marker saying how many more there were.

    Text cut already (within `limit`, then its marker) is left as it is, so that cutting
    twice, at two steps of processing, still says how much the first cut dropped.
    """
    if len(text) <= limit:
        return text
    if len(text) <= limit + 64 and (marked := _MARKED.search(text)) and marked.start() <= limit:
        return text
    return text[:limit] + cut_marker("characters", len(text) - limit)


def clip_optional(text: str | None, limit: int) -> str | None:
    return None if text is None else clip_text(text, limit)


def json_size(value: Any, limit: int) -> int:
    """About how many characters `value` takes as JSON; stops counting once past `limit`."""
    size = 0
    stack = [value]
    while stack and size <= limit:
        item = stack.pop()
        if isinstance(item, str):
            size += len(item) + 2
        elif type(item) is dict or isinstance(item, Mapping):
            size += 2
            for key, child in item.items():
                size += len(key) + 3 if isinstance(key, str) else 8
                stack.append(child)
        elif isinstance(item, list | tuple):
            size += 2 + len(item)
            stack.extend(item)
        else:
            size += 8
    return size


def clip_json(value: Any, limit: int) -> Any:
    """A JSON value cut to about `limit` characters: strings cut, and containers keep their
    first entries while room is left, then a marker entry ("…" in an object, a last string
    in an array). Values that fit are returned as they are."""
    if json_size(value, limit) <= limit:
        return value
    return _clip(value, limit, 0)[0]


def _clip(value: Any, budget: int, depth: int) -> tuple[Any, int]:
    """`value` cut to `budget` characters, and the characters the result takes."""
    if isinstance(value, str):
        kept = clip_text(value, max(budget - 2, 0))
        return kept, len(kept) + 2
    if not isinstance(value, Mapping | list | tuple):
        return value, 8
    if depth >= MAX_JSON_DEPTH:
        marker = f"… [cut: nested deeper than {MAX_JSON_DEPTH} levels]"
        return marker, len(marker) + 2
    used = 2
    if isinstance(value, Mapping):
        kept_items: dict[Any, Any] = {}
        items = list(value.items())
        for index, (key, child) in enumerate(items):
            if used >= budget:
                kept_items["…"] = cut_marker("keys", len(items) - index)
                break
            name = clip_text(key, max(budget - used, 0)) if isinstance(key, str) else key
            used += (len(name) + 3) if isinstance(name, str) else 8
            kept_items[name], size = _clip(child, budget - used, depth + 1)
            used += size
        return kept_items, used
    kept_list: list[Any] = []
    for index, child in enumerate(value):
        if used >= budget:
            kept_list.append(cut_marker("items", len(value) - index))
            break
        kept, size = _clip(child, budget - used, depth + 1)
        kept_list.append(kept)
        used += size + 1
    return kept_list, used


def clip_frames(frames: tuple[StackFrame, ...], limits: DerivationLimits) -> tuple[StackFrame, ...]:
    """A trace's first `max_stack_frames` frames, their text cut, and a marker frame (its
    `source` says how many frames were cut) if there were more."""
    limit = limits.max_text_chars
    kept = tuple(
        f  # nearly every frame: kept as it is, not built again
        if len(f.file_name or "") <= limit
        and len(f.function_name or "") <= limit
        and len(f.source or "") <= limit
        else StackFrame(
            file_name=clip_optional(f.file_name, limit),
            function_name=clip_optional(f.function_name, limit),
            line_number=f.line_number,
            column_number=f.column_number,
            source=clip_optional(f.source, limit),
        )
        for f in frames[: limits.max_stack_frames]
    )
    if len(frames) > limits.max_stack_frames:
        kept += (StackFrame(source=cut_marker("frames", len(frames) - limits.max_stack_frames)),)
    return kept


class RowBudget:
    """A session's room for derived rows: per kind, and in bytes for all kinds together.

    Rows are offered in payload order; `keep` says whether one fits, and counts the ones
    that do not (`not_kept`). Once the byte budget is spent, no later row is kept, however
    small, so that "the first rows of the session" stays what was kept.
    """

    def __init__(self, limits: DerivationLimits) -> None:
        self._limits = limits
        self._kept: dict[str, int] = {}
        self._bytes = 0
        self._spent = False
        self.not_kept: dict[str, int] = {}

    def keep(self, kind: str, size: int) -> bool:
        kept = self._kept.get(kind, 0)
        if (
            not self._spent
            and kept < self._limits.max_rows_per_kind
            and self._bytes + size <= self._limits.max_bytes_per_session
        ):
            self._kept[kind] = kept + 1
            self._bytes += size
            return True
        if self._bytes + size > self._limits.max_bytes_per_session:
            self._spent = True
        self.not_kept[kind] = self.not_kept.get(kind, 0) + 1
        return False


def clipped_error(occurrence: ErrorOccurrence, limits: DerivationLimits) -> ErrorOccurrence:
    """An error with its stranger-chosen text cut to `limits`."""
    limit = limits.max_text_chars
    return replace(
        occurrence,
        type=clip_text(occurrence.type, limit),
        message=clip_text(occurrence.message, limit),
        frames=clip_frames(occurrence.frames, limits),
        url=clip_optional(occurrence.url, limit),
        payload=clip_optional(occurrence.payload, limit),
        service_name=clip_optional(occurrence.service_name, limit),
        service_version=clip_optional(occurrence.service_version, limit),
        environment=clip_optional(occurrence.environment, limit),
    )


def plausible_time(t: int, received_at: int) -> int:
    """An error's time if it is plausible (not before 1970, not later than a day after the
    server received it: a far-future time would sort its group first for good), else when
    it was received."""
    return t if 0 <= t <= received_at + DAY_MS else received_at


def bounded_backend_error(
    error: BackendErrorReport, limits: DerivationLimits
) -> BackendErrorReport:
    """A backend error's text cut before it is derived, so that parsing its stack and
    fingerprinting its message cost a bounded time. A stack trace small enough is kept whole
    (it is JSON to parse); a larger one can only be kept as (cut) text."""
    limit = limits.max_text_chars
    trace = error.stack_trace
    return replace(
        error,
        event=clip_text(error.event, limit),
        type=clip_text(error.type, limit),
        url=clip_text(error.url, limit),
        stack_trace=trace if len(trace) <= limits.max_decoded_bytes else clip_text(trace, limit),
        payload=clip_optional(error.payload, limit),
    )


def bounded_derived(derived: Derived, limits: DerivationLimits, received_at: int) -> Derived:
    """What an OTLP export or a backend error derived, its text cut to `limits` and its
    errors' times made plausible (see `plausible_time`). Their size is bounded at ingest
    (one error; an export of at most 8 MiB and 100,000 items), so only the text is cut."""
    limit = limits.max_text_chars
    derived.errors = [
        replace(
            e,
            error=replace(
                clipped_error(e.error, limits),
                timestamp=plausible_time(e.error.timestamp, received_at),
            ),
        )
        for e in derived.errors
    ]
    derived.console = [(sid, _clipped_console(m, limits)) for sid, m in derived.console]
    derived.network = [(sid, _clipped_request(n, limit)) for sid, n in derived.network]
    derived.logs = [
        replace(
            g,
            entry=replace(
                g.entry,
                level=clip_text(g.entry.level, limit),
                message=clip_text(g.entry.message, limit),
                service_name=clip_optional(g.entry.service_name, limit),
                service_version=clip_optional(g.entry.service_version, limit),
                environment=clip_optional(g.entry.environment, limit),
                attributes=clip_json(g.entry.attributes, limit),
            ),
        )
        for g in derived.logs
    ]
    return derived


def _clipped_console(message: ConsoleMessage, limits: DerivationLimits) -> ConsoleMessage:
    limit = limits.max_text_chars
    return replace(
        message,
        level=clip_text(message.level, limit),
        message=clip_text(message.message, limit),
        trace=clip_frames(message.trace, limits),
        attributes=clip_json(message.attributes, limit),
    )


def _clipped_request(request: NetworkRequest, limit: int) -> NetworkRequest:
    return replace(
        request,
        method=clip_optional(request.method, limit),
        url=clip_text(request.url, limit),
        initiator=clip_optional(request.initiator, limit),
        request=None if request.request is None else clip_json(request.request, limit),
        response=None if request.response is None else clip_json(request.response, limit),
    )
