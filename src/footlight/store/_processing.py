"""The processing queue's jobs, what a job reads, and what it derives for the store to keep."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from footlight.core.records import (
    ConsoleMessage,
    ErrorOccurrence,
    LogEntry,
    NetworkRequest,
    TrackEvent,
    WebSocketEvent,
)
from footlight.store._writes import BackendErrorReport, JobKind, Session, StoredPayload

PayloadKey = tuple[int, int]
"""A stored payload's place in replay order: (payload_id, seq)."""


@dataclass(frozen=True)
class ProcessingTiming:
    """When stored input becomes due for processing.

    A session is processed once no input has arrived for `inactivity_ms` (it is then
    "finished"; more input re-opens it), but at least every `max_delay_ms` while input keeps
    coming, so an open tab that pushes every 2 seconds is still processed.
    """

    inactivity_ms: int = 60_000
    max_delay_ms: int = 300_000
    live_delay_ms: int | None = 500
    """A stored payload's `live` job falls due this long after it (the first payload since
    the last run: later ones join that run); None queues no live jobs."""
    assets_delay_ms: int | None = 2_000
    """A stored payload of a project that captures assets queues its session's `assets` job,
    due this long after it (the first payload since the last run); None queues none."""


@dataclass(frozen=True)
class Job:
    kind: JobKind
    key: int
    version: int
    attempts: int
    """Runs of this job so far, this one included: claiming counts an attempt, so a run that
    kills the process is counted too."""

    @property
    def origin(self) -> str:
        """How derived rows name this input (see the processing migration)."""
        return f"{self.kind}:{self.key}"


@dataclass(frozen=True)
class SessionInput:
    """What processing reads about one session besides its payloads (which it reads a page
    at a time, with `session_payloads`, so that a session is never in memory whole)."""

    session: Session
    client_id: str | None
    email: str | None
    """The first `email` user property identify sent, if any."""


@dataclass(frozen=True)
class LiveInput:
    """What a live run reads before deriving, in one read: the session, its live cursor and
    the first page of payloads stored after that cursor."""

    session: SessionInput
    cursor: PayloadKey | None
    page: list[StoredPayload]
    more: bool
    """Whether payloads after the page were stored when it was read."""


@dataclass(frozen=True)
class QueuedJob:
    """A row of the processing queue, as operators see it."""

    kind: JobKind
    key: int
    attempts: int
    due_at: int
    last_error: str | None
    quarantined_at: int | None


@dataclass(frozen=True)
class BackendErrorInput:
    id: int
    project_id: int
    error: BackendErrorReport
    received_at: int = 0
    """When the server stored it: what an implausible error time falls back to."""


@dataclass(frozen=True)
class PageVisit:
    timestamp: int
    url: str


@dataclass(frozen=True)
class SessionSummary:
    started_at: int | None
    ended_at: int | None
    length_ms: int
    active_ms: int
    pages_visited: int
    click_count: int
    rage_click_count: int
    event_count: int
    payload_count: int
    error_count: int
    console_count: int
    network_count: int
    browser_name: str | None
    browser_version: str | None
    os_name: str | None
    os_version: str | None
    device_type: str | None
    language: str | None
    landing_page: str | None
    exit_page: str | None
    details: dict[str, Any] = field(default_factory=dict)
    """Intervals (for skipping inactivity), rage clicks, event-count histogram."""


@dataclass(frozen=True)
class DerivedOccurrence:
    error: ErrorOccurrence
    fingerprint: str
    session_secure_id: str | None
    project_id: int | None = None
    """None: the project of the session (`session_secure_id`), looked up when stored."""
    project_key: str | None = None
    """For an error of no session: the project key its exporter named, which processing
    resolves to `project_id` before storing (unresolvable ones are not stored)."""
    trace_id: str | None = None
    """The trace of the span that recorded it (OTLP): an error of no session takes the
    session of a browser span of the same trace, whichever is stored first."""


@dataclass(frozen=True)
class DerivedLog:
    entry: LogEntry
    session_secure_id: str | None
    project_id: int | None = None
    """None: the project of the session, looked up when stored."""
    project_key: str | None = None
    """For a record of no session: the project key its exporter named (as DerivedOccurrence's)."""


@dataclass(frozen=True)
class ServiceSeen:
    """A backend service that reported (an OTLP export of a backend's resource)."""

    name: str
    """Its service.name; "" when it named none."""
    at: int
    """When (epoch ms): the export's arrival."""
    session_secure_id: str | None = None
    """The session its items named, whose project it reports to, when they named no project."""
    project_id: int | None = None
    project_key: str | None = None
    """The project its exporter named, which processing resolves to `project_id`."""


@dataclass(frozen=True)
class SpanRecord:
    session_secure_id: str | None
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str | None
    started_at: float
    ended_at: float | None
    status_code: str | None
    service_name: str | None
    attributes: dict[str, Any]
    events: list[dict[str, Any]]


@dataclass(frozen=True)
class MetricRecord:
    session_secure_id: str | None
    name: str
    timestamp: float
    value: float
    attributes: dict[str, Any]


@dataclass(frozen=True)
class Backfill:
    """Identify a client's earlier anonymous sessions with what a later session learned."""

    project_id: int
    client_id: str
    identifier: str
    user_object: str | None
    email: str | None


@dataclass
class Derived:
    """All that processing one input produced; storing it replaces that input's old rows."""

    origin: str
    session_id: int | None = None
    summary: SessionSummary | None = None
    pages: list[PageVisit] = field(default_factory=list)
    console: list[tuple[str, ConsoleMessage]] = field(default_factory=list)
    network: list[tuple[str, NetworkRequest]] = field(default_factory=list)
    websocket: list[tuple[str, WebSocketEvent]] = field(default_factory=list)
    errors: list[DerivedOccurrence] = field(default_factory=list)
    tracks: list[tuple[str, TrackEvent]] = field(default_factory=list)
    spans: list[SpanRecord] = field(default_factory=list)
    metrics: list[MetricRecord] = field(default_factory=list)
    logs: list[DerivedLog] = field(default_factory=list)
    services: list[ServiceSeen] = field(default_factory=list)
    max_services: int = 100
    """Services listed per project: one past it is not added (Limits.max_backend_services)."""
    backfill: Backfill | None = None
    through: PayloadKey | None = None
    """The last payload a session's derivation read: processing the finished session moves
    the live cursor here, and live derivation (origin 'live:<id>') appends rows after it."""
