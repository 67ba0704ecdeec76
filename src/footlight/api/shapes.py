"""The JSON bodies the read API answers with, as typed structs, and how each is made from the
store's views.

The routes encode these structs, and `openapi.py` generates the document's component schemas
from the same classes, so a field cannot be answered without being described. Every struct
forbids unknown fields, which its schema states as `additionalProperties: false`: a client
validating an answer against the document rejects a field the document does not name.

Each `of` copies a view attribute by attribute: one struct per row, no intermediate dict and
no conversion, so a value is encoded exactly as the store returned it (an integer held in a
`float` field stays an integer on the wire, as it did when routes built dicts).

One module on purpose, though long: it is the read API's whole answer vocabulary, and the
OpenAPI document is generated from it, so its field descriptions read as the reference does.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

import msgspec
from msgspec import UNSET, Meta, UnsetType

from footlight.core import records
from footlight.core.ids import encode_project
from footlight.core.records import Source
from footlight.store import base

EpochMs = Annotated[int, Meta(description="Epoch milliseconds.")]
FractionalEpochMs = Annotated[float, Meta(description="Epoch milliseconds (fractional).")]
NextCursor = Annotated[
    str | None, Meta(description="Pass as `cursor` for the next page; null on the last page.")
]
SessionStatus = Literal["pending", "processing", "processed"]
NetworkSource = Literal["payload", "otlp"]
"""Where a network request was read from: the replay payload (a resource) or an OTLP span."""


class Shape(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A JSON object of an answer; its schema allows no field it does not name."""


# -- errors ------------------------------------------------------------------------------------


class ErrorDetail(Shape):
    """What failed."""

    code: Annotated[
        str, Meta(description="The kind of failure, for programs: BAD_REQUEST, NOT_FOUND...")
    ]
    message: Annotated[str, Meta(description="What went wrong, for people.")]


class Error(Shape):
    """The answer to a request that failed."""

    error: ErrorDetail


# -- projects ----------------------------------------------------------------------------------


class BackendService(Shape):
    """A backend that has reported to the project."""

    name: Annotated[str, Meta(description="Its service.name; '' when it named none.")]
    first_seen: EpochMs
    last_seen: EpochMs

    @classmethod
    def of(cls, service: base.BackendService) -> BackendService:
        return cls(name=service.name, first_seen=service.first_seen, last_seen=service.last_seen)


class Project(Shape):
    """A project: the sessions, errors and logs of one app."""

    id: int
    verbose_id: Annotated[str, Meta(description="Highlight's hashid of the id.")]
    name: str
    keys: list[str]
    retention_days: int | None
    created_at: EpochMs
    backend_services: Annotated[
        list[BackendService],
        Meta(
            description="The backends that have reported (OTLP exports of a backend SDK,"
            " markBackendSetup), by service name ('' when none was named)."
        ),
    ]

    @classmethod
    def of(cls, project: base.Project, services: list[BackendService]) -> Project:
        return cls(
            id=project.id,
            verbose_id=encode_project(project.id),
            name=project.name,
            keys=list(project.keys),
            retention_days=project.retention_days,
            created_at=project.created_at,
            backend_services=services,
        )


class ProjectList(Shape):
    """The projects a token reads."""

    projects: list[Project]


# -- sessions ----------------------------------------------------------------------------------


class Summary(Shape):
    """What processing derived."""

    started_at: int | None
    ended_at: int | None
    length_ms: Annotated[int, Meta(description="First FullSnapshot to last IncrementalSnapshot.")]
    active_ms: Annotated[
        int, Meta(description="Time with user activity; gaps over 10 s do not count.")
    ]
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
    details: Annotated[
        dict[str, Any] | UnsetType,
        Meta(
            description="intervals (active/inactive), rage_clicks, event_counts;"
            " in the single-session view only."
        ),
    ] = UNSET

    @classmethod
    def of(cls, summary: base.SessionSummary, *, details: bool) -> Summary:
        return cls(
            started_at=summary.started_at,
            ended_at=summary.ended_at,
            length_ms=summary.length_ms,
            active_ms=summary.active_ms,
            pages_visited=summary.pages_visited,
            click_count=summary.click_count,
            rage_click_count=summary.rage_click_count,
            event_count=summary.event_count,
            payload_count=summary.payload_count,
            error_count=summary.error_count,
            console_count=summary.console_count,
            network_count=summary.network_count,
            browser_name=summary.browser_name,
            browser_version=summary.browser_version,
            os_name=summary.os_name,
            os_version=summary.os_version,
            device_type=summary.device_type,
            language=summary.language,
            landing_page=summary.landing_page,
            exit_page=summary.exit_page,
            details=summary.details if details else UNSET,
        )


class SessionUser(Shape):
    """Who the session identified (H.identify)."""

    identifier: str | None
    email: str | None
    properties: Annotated[
        dict[str, Any] | None, Meta(description="The properties given to H.identify.")
    ]


Properties = dict[str, dict[str, list[str]]]
"""{kind: {key: [values]}} for each kind of property (user, session, track)."""


class Session(Shape):
    """A recorded session: who, where from, and what processing derived."""

    secure_id: str
    project_id: int
    created_at: EpochMs
    client_id: str | None
    user: SessionUser
    environment: str | None
    app_version: str | None
    service_name: str | None
    client_version: str | None
    user_agent: str | None
    status: Annotated[
        SessionStatus,
        Meta(description="processing: input is waiting (live or re-opened); processed: finished."),
    ]
    processed_at: int | None
    summary: Annotated[
        Summary | None,
        Meta(description="What processing derived; null until the session is first processed."),
    ]
    properties: Annotated[
        Properties | UnsetType,
        Meta(
            description="user / session / track properties, the first 1,000 by arrival"
            " (single-session view only; all of them: /properties)."
        ),
    ] = UNSET
    properties_complete: Annotated[
        bool | UnsetType,
        Meta(
            description="false when `properties` holds only the first 1,000"
            " (single-session view only)."
        ),
    ] = UNSET

    @classmethod
    def of(cls, view: base.SessionView, *, full: bool = False) -> Session:
        """The session as a list shows it, or `full`: with its properties and details."""
        user_object = msgspec.json.decode(view.user_object) if view.user_object else None
        status: SessionStatus = (
            "processing" if view.processing else "processed" if view.summary else "pending"
        )
        return cls(
            secure_id=view.secure_id,
            project_id=view.project_id,
            created_at=view.created_at,
            client_id=view.client_id,
            user=SessionUser(identifier=view.identifier, email=view.email, properties=user_object),
            environment=view.environment,
            app_version=view.app_version,
            service_name=view.service_name,
            client_version=view.client_version,
            user_agent=view.user_agent,
            status=status,
            processed_at=view.processed_at,
            summary=None if view.summary is None else Summary.of(view.summary, details=full),
            properties=view.properties() if full else UNSET,
            properties_complete=view.fields_complete if full else UNSET,
        )


class SessionPage(Shape):
    """A page of sessions, newest first."""

    sessions: list[Session]
    next_cursor: NextCursor


class Property(Shape):
    """One value of a user, session or track property of a session."""

    kind: Literal["user", "session", "track"]
    key: str
    value: str

    @classmethod
    def of(cls, field: base.SessionField) -> Property:
        return cls(kind=field.kind, key=field.key, value=field.value)


class PropertyPage(Shape):
    """A page of a session's properties, by kind, key and value."""

    properties: list[Property]
    next_cursor: NextCursor


# -- a session's timelines ---------------------------------------------------------------------


class StackFrame(Shape):
    """One frame of a stack trace, as far as it is known."""

    file_name: str | None
    function_name: str | None
    line_number: int | None
    column_number: int | None
    source: str | None

    @classmethod
    def all_of(cls, frames: tuple[records.StackFrame, ...]) -> list[StackFrame]:
        return [
            cls(
                file_name=f.file_name,
                function_name=f.function_name,
                line_number=f.line_number,
                column_number=f.column_number,
                source=f.source,
            )
            for f in frames
        ]


class ConsoleMessage(Shape):
    """A console message of the session (or a backend's log line of it)."""

    timestamp: EpochMs
    level: Annotated[
        str,
        Meta(
            description="The console method (log, warn, error, info, debug...)"
            " or an OTLP severity text."
        ),
    ]
    message: str
    trace: list[StackFrame]
    attributes: dict[str, Any]
    source: Annotated[
        Source, Meta(description="backend: a backend SDK's log line of this session.")
    ]

    @classmethod
    def of(cls, message: records.ConsoleMessage) -> ConsoleMessage:
        return cls(
            timestamp=message.timestamp,
            level=message.level,
            message=message.message,
            trace=StackFrame.all_of(message.trace),
            attributes=message.attributes,
            source=message.source,
        )


class AssetProblem(Shape):
    """A URL the recording referenced whose asset was not kept, and why."""

    url: str
    status: Annotated[str, Meta(description="failed (the fetch went wrong) or skipped.")]
    reason: str | None
    fetched_at: Annotated[int, Meta(description="When it was settled (epoch ms).")]


class SessionAssets(Shape):
    """What asset capture kept for a session's replay (projects with asset origins)."""

    stored: Annotated[int, Meta(description="URLs whose asset is kept.")]
    failed: Annotated[int, Meta(description="URLs whose fetch was refused or went wrong.")]
    skipped: Annotated[
        int, Meta(description="URLs not fetched: origin not listed, or a cap reached.")
    ]
    unrecorded: Annotated[
        int, Meta(description="URLs past FOOTLIGHT_ASSET_MAX_URLS, only counted.")
    ]
    bytes: Annotated[int, Meta(description="Bytes of the assets the session links.")]
    problems: Annotated[
        list[AssetProblem], Meta(description="The newest failed and skipped URLs (200 at most).")
    ]

    @classmethod
    def of(cls, report: base.AssetReport) -> SessionAssets:
        return cls(
            stored=report.counts.get("stored", 0),
            failed=report.counts.get("failed", 0),
            skipped=report.counts.get("skipped", 0),
            unrecorded=report.dropped,
            bytes=report.bytes,
            problems=[
                AssetProblem(url=p.url, status=p.status, reason=p.reason, fetched_at=p.fetched_at)
                for p in report.problems
            ],
        )


class EventsPage(Shape):
    """A page of a recording's events, for following it while it records (`after`)."""

    events: Annotated[
        msgspec.Raw,
        Meta(
            description="rrweb events, in replay order.",
            extra_json_schema={
                "type": "array",
                "items": {"type": "object", "additionalProperties": True},
            },
        ),
    ]
    next: Annotated[
        str | None,
        Meta(description="Pass as `after` next time; null while the session has no payload."),
    ]
    more: Annotated[bool, Meta(description="More payloads are stored: ask again at once.")]
    live: Annotated[
        bool,
        Meta(
            description="The session still records: input within FOOTLIGHT_LIVE_QUIET_SECONDS"
            " and not yet finished."
        ),
    ]
    last_input_at: Annotated[
        int | None, Meta(description="When the session's last payload was stored (epoch ms).")
    ]


class ConsolePage(Shape):
    """A page of a session's console messages, in time order."""

    console: list[ConsoleMessage]
    next_cursor: NextCursor


class NetworkRequest(Shape):
    """A request the page made: a resource timing, an OTLP span, or both merged."""

    start: FractionalEpochMs
    end: float | None
    method: str | None
    url: str
    status: int | None
    initiator: Annotated[
        str | None,
        Meta(description="fetch, xmlhttprequest, script, img, websocket, span kind..."),
    ]
    request: Annotated[dict[str, Any] | None, Meta(description="headers and body, when recorded")]
    response: Annotated[
        dict[str, Any] | None, Meta(description="headers, body and size, when recorded")
    ]
    transfer_size: int | None
    trace_id: str | None
    span_id: str | None
    source: NetworkSource

    @classmethod
    def of(cls, request: records.NetworkRequest) -> NetworkRequest:
        return cls(
            start=request.start,
            end=request.end,
            method=request.method,
            url=request.url,
            status=request.status,
            initiator=request.initiator,
            request=request.request,
            response=request.response,
            transfer_size=request.transfer_size,
            trace_id=request.trace_id,
            span_id=request.span_id,
            # Network rows are derived from payloads and OTLP spans only, never "backend".
            source=cast(NetworkSource, request.source),
        )


class WebSocketEvent(Shape):
    """Something that happened on one of the page's websockets."""

    timestamp: Annotated[float, Meta(description="Epoch milliseconds.")]
    socket_id: str
    type: Annotated[str, Meta(description="open, close, sent, received, error")]
    name: str
    size: int | None
    message: str | None

    @classmethod
    def of(cls, event: records.WebSocketEvent) -> WebSocketEvent:
        return cls(
            timestamp=event.timestamp,
            socket_id=event.socket_id,
            type=event.type,
            name=event.name,
            size=event.size,
            message=event.message,
        )


class NetworkPage(Shape):
    """A page of a session's network requests and websocket events, in time order."""

    network: list[NetworkRequest]
    websocket: list[WebSocketEvent]
    next_cursor: NextCursor


class TrackEvent(Shape):
    """An event the page tracked (H.track)."""

    timestamp: EpochMs
    name: str
    properties: dict[str, Any]

    @classmethod
    def of(cls, event: records.TrackEvent) -> TrackEvent:
        return cls(timestamp=event.timestamp, name=event.name, properties=event.properties)


class TrackPage(Shape):
    """A page of a session's track events, and its track properties."""

    events: list[TrackEvent]
    properties: Annotated[
        dict[str, list[str]],
        Meta(
            description="Track properties (among the session's first 1,000 properties);"
            " the same on every page."
        ),
    ]
    properties_complete: Annotated[
        bool, Meta(description="false when the session has more than 1,000 properties.")
    ]
    next_cursor: NextCursor


class Feedback(Shape):
    """What the user wrote in the feedback form."""

    verbatim: str
    timestamp: EpochMs
    user_name: str | None
    user_email: str | None

    @classmethod
    def of(cls, feedback: base.Feedback) -> Feedback:
        return cls(
            verbatim=feedback.verbatim,
            timestamp=feedback.timestamp,
            user_name=feedback.user_name,
            user_email=feedback.user_email,
        )


class FeedbackPage(Shape):
    """A page of the feedback left in a session."""

    feedback: list[Feedback]
    next_cursor: NextCursor


# -- errors ------------------------------------------------------------------------------------


class RecordedError(Shape):
    """An error as it was recorded (without the ids of where it is stored)."""

    timestamp: EpochMs
    type: Annotated[
        str,
        Meta(
            description="console.error, window.onerror, custom, React.ErrorBoundary, Backend,"
            " exception..."
        ),
    ]
    message: str
    frames: list[StackFrame]
    url: str | None
    payload: str | None
    source: Source
    service_name: Annotated[
        str | None,
        Meta(description="The backend service that reported it; null for the browser's."),
    ]
    service_version: str | None
    environment: str | None

    @classmethod
    def of(cls, error: records.ErrorOccurrence) -> RecordedError:
        return cls(
            timestamp=error.timestamp,
            type=error.type,
            message=error.message,
            frames=StackFrame.all_of(error.frames),
            url=error.url,
            payload=error.payload,
            source=error.source,
            service_name=error.service_name,
            service_version=error.service_version,
            environment=error.environment,
        )


class ErrorOccurrence(RecordedError):
    """One stored occurrence of an error."""

    id: int
    project_id: int | None
    session_secure_id: str | None
    fingerprint: Annotated[str, Meta(description="The error group.")]
    trace_id: Annotated[
        str | None,
        Meta(description="The trace of the span that recorded it (OTLP), if any."),
    ]

    @classmethod
    def of_view(cls, view: base.ErrorView) -> ErrorOccurrence:
        error = view.error
        return cls(
            id=view.id,
            project_id=view.project_id,
            session_secure_id=view.session_secure_id,
            fingerprint=view.fingerprint,
            trace_id=view.trace_id,
            timestamp=error.timestamp,
            type=error.type,
            message=error.message,
            frames=StackFrame.all_of(error.frames),
            url=error.url,
            payload=error.payload,
            source=error.source,
            service_name=error.service_name,
            service_version=error.service_version,
            environment=error.environment,
        )


class ErrorPage(Shape):
    """A page of error occurrences."""

    errors: list[ErrorOccurrence]
    next_cursor: NextCursor


class ErrorGroup(Shape):
    """Occurrences of one error (one fingerprint) in a project."""

    project_id: int
    fingerprint: str
    type: str
    message: str
    count: int
    sessions: Annotated[int, Meta(description="Distinct sessions affected.")]
    first_seen: EpochMs
    last_seen: EpochMs
    latest: Annotated[RecordedError, Meta(description="The latest occurrence.")]

    @classmethod
    def of(cls, group: base.ErrorGroupView) -> ErrorGroup:
        return cls(
            project_id=group.project_id,
            fingerprint=group.fingerprint,
            type=group.type,
            message=group.message,
            count=group.count,
            sessions=group.sessions,
            first_seen=group.first_seen,
            last_seen=group.last_seen,
            latest=RecordedError.of(group.latest),
        )


class ErrorGroupPage(Shape):
    """A page of error groups, most recently seen first."""

    error_groups: list[ErrorGroup]
    next_cursor: NextCursor


class ErrorGroupDetail(ErrorGroup):
    """An error group with its recent occurrences and the sessions they happened in."""

    recent: Annotated[
        list[ErrorOccurrence], Meta(description="The 50 latest occurrences, newest first.")
    ]
    session_ids: Annotated[
        list[str], Meta(description="Secure ids of the sessions of those occurrences.")
    ]

    @classmethod
    def of_group(cls, group: base.ErrorGroupView, recent: list[base.ErrorView]) -> ErrorGroupDetail:
        return cls(
            project_id=group.project_id,
            fingerprint=group.fingerprint,
            type=group.type,
            message=group.message,
            count=group.count,
            sessions=group.sessions,
            first_seen=group.first_seen,
            last_seen=group.last_seen,
            latest=RecordedError.of(group.latest),
            recent=[ErrorOccurrence.of_view(e) for e in recent],
            session_ids=sorted({e.session_secure_id for e in recent if e.session_secure_id}),
        )


# -- logs and traces ---------------------------------------------------------------------------


class LogRecord(Shape):
    """An OTLP log record: a backend's log line, or a browser console message sent as one."""

    id: int
    project_id: int | None
    session_secure_id: str | None
    timestamp: EpochMs
    level: Annotated[
        str,
        Meta(description="trace, debug, info, warn, error or fatal (or log: no severity)."),
    ]
    message: str
    service_name: str | None
    service_version: str | None
    environment: str | None
    trace_id: str | None
    span_id: str | None
    attributes: dict[str, Any]

    @classmethod
    def of(cls, view: base.LogView) -> LogRecord:
        entry = view.entry
        return cls(
            id=view.id,
            project_id=view.project_id,
            session_secure_id=view.session_secure_id,
            timestamp=entry.timestamp,
            level=entry.level,
            message=entry.message,
            service_name=entry.service_name,
            service_version=entry.service_version,
            environment=entry.environment,
            trace_id=entry.trace_id,
            span_id=entry.span_id,
            attributes=entry.attributes,
        )


class LogPage(Shape):
    """A page of log records, newest first."""

    logs: list[LogRecord]
    next_cursor: NextCursor


class Span(Shape):
    """An OTLP span: the browser's or a backend's."""

    id: int
    project_id: Annotated[
        int | None,
        Meta(description="Its session's project; null for a span of no session."),
    ]
    session_secure_id: str | None
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str | None
    started_at: FractionalEpochMs
    ended_at: float | None
    status_code: str | None
    service_name: str | None
    attributes: dict[str, Any]
    events: list[dict[str, Any]]

    @classmethod
    def of(cls, view: base.SpanView) -> Span:
        span = view.span
        return cls(
            id=view.id,
            project_id=view.project_id,
            session_secure_id=span.session_secure_id,
            trace_id=span.trace_id,
            span_id=span.span_id,
            parent_span_id=span.parent_span_id,
            name=span.name,
            kind=span.kind,
            started_at=span.started_at,
            ended_at=span.ended_at,
            status_code=span.status_code,
            service_name=span.service_name,
            attributes=span.attributes,
            events=span.events,
        )


class Trace(Shape):
    """A page of a trace's spans, in start order, and its latest errors."""

    trace_id: str
    spans: list[Span]
    errors: list[ErrorOccurrence]
    next_cursor: NextCursor
