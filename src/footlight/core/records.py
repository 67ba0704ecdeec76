"""What processing derives from stored input, as plain records shared by its parts.

Every record carries where it came from (`source`) so that re-deriving one input (a
session's payloads, one OTLP batch, one backend error) replaces exactly what that input
produced before and nothing else: processing is idempotent by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Source = Literal["payload", "otlp", "backend"]


@dataclass(frozen=True)
class StackFrame:
    file_name: str | None = None
    function_name: str | None = None
    line_number: int | None = None
    column_number: int | None = None
    source: str | None = None


@dataclass(frozen=True)
class ConsoleMessage:
    timestamp: int
    """Epoch milliseconds."""
    level: str
    """The console method (log, warn, error, info, debug...) or an OTLP severity text."""
    message: str
    trace: tuple[StackFrame, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)
    source: Source = "payload"


@dataclass(frozen=True)
class NetworkRequest:
    start: float
    """Epoch milliseconds (fractional)."""
    end: float | None
    method: str | None
    url: str
    status: int | None = None
    initiator: str | None = None
    """fetch, xmlhttprequest, script, img, websocket, span kind..."""
    request: dict[str, Any] | None = None
    """{headers, body} when the SDK recorded them."""
    response: dict[str, Any] | None = None
    transfer_size: int | None = None
    trace_id: str | None = None
    span_id: str | None = None
    source: Source = "payload"


@dataclass(frozen=True)
class WebSocketEvent:
    timestamp: float
    socket_id: str
    type: str
    name: str
    size: int | None = None
    message: str | None = None


@dataclass(frozen=True)
class ErrorOccurrence:
    timestamp: int
    type: str
    """console.error, window.onerror, custom, React.ErrorBoundary, Backend, exception..."""
    message: str
    frames: tuple[StackFrame, ...] = ()
    url: str | None = None
    payload: str | None = None
    source: Source = "payload"
    service_name: str | None = None
    """The backend service that reported it (backend SDKs); None for the browser's."""
    service_version: str | None = None
    environment: str | None = None


@dataclass(frozen=True)
class LogEntry:
    """An OTLP log record: a backend's log line, or a browser console message sent as one."""

    timestamp: int
    """Epoch milliseconds."""
    level: str
    """trace, debug, info, warn, error or fatal (an unusual severity text as it was sent)."""
    message: str
    service_name: str | None = None
    service_version: str | None = None
    environment: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrackEvent:
    timestamp: int
    name: str
    properties: dict[str, Any] = field(default_factory=dict)
