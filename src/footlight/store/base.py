"""The storage interface every backend implements, and the records that cross it.

Callers (ingest, the CLI, tests) only see `Store` and these records. A method returns once
its write is durable; it raises one of the `StoreError` subclasses below for a condition the
caller must report (an unknown session, a session of another project) and `StoreUnavailable`
when the backend cannot take writes at all, which the HTTP edge turns into 503 + Retry-After.

Idempotency lives here, not in callers: every write is keyed so that a client's retry of the
same request stores nothing twice (see each method).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from footlight.core.payload import PayloadSummary
from footlight.core.records import (
    ConsoleMessage,
    ErrorOccurrence,
    LogEntry,
    NetworkRequest,
    TrackEvent,
    WebSocketEvent,
)

FieldKind = Literal["user", "session", "track"]
PayloadSource = Literal["compressed", "legacy"]
JobKind = Literal["session", "otlp", "backend"]
TokenScope = Literal["read", "admin"]
TOKEN_SCOPES: tuple[TokenScope, ...] = ("read", "admin")
T = TypeVar("T")


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    created_at: int
    keys: tuple[str, ...] = ()
    retention_days: int | None = None
    """Sessions older than this are deleted; None keeps them."""
    quota_bytes_per_day: int | None = None
    """Request bytes the project may receive per UTC day; None: no quota."""
    quota_sessions_per_day: int | None = None
    """Sessions the project may start per UTC day; None: no quota."""


QUOTAS = ("bytes_per_day", "sessions_per_day")
"""The daily quotas a project may have (`Project.quota_<name>`)."""


@dataclass(frozen=True)
class NewSession:
    """What initializeSession carries; the first call for a secure id wins (reloads re-send it)."""

    secure_id: str
    project_id: int
    created_at: int
    client_id: str | None = None
    fingerprint: str | None = None
    environment: str | None = None
    app_version: str | None = None
    service_name: str | None = None
    client_version: str | None = None
    firstload_version: str | None = None
    client_config: str | None = None
    privacy_setting: str | None = None
    enable_strict_privacy: bool | None = None
    enable_recording_network_contents: bool | None = None
    disable_session_recording: bool | None = None
    network_recording_domains: tuple[str, ...] | None = None
    session_key: str | None = None
    user_agent: str | None = None
    accept_language: str | None = None


@dataclass(frozen=True)
class Session:
    id: int
    secure_id: str
    project_id: int
    created_at: int
    client_id: str | None
    environment: str | None
    app_version: str | None
    service_name: str | None
    client_version: str | None
    client_config: str | None
    user_agent: str | None
    accept_language: str | None
    identifier: str | None
    user_object: str | None
    created: bool = field(default=False, compare=False)
    """Whether the call that returned it created it (initializeSession of a new secure id);
    not part of what the session is, so a reload's answer equals the first one's."""


@dataclass(frozen=True)
class SessionSize:
    """What limits need to know about a stored session."""

    project_id: int
    stored_bytes: int
    """Payload bytes stored (see `Store.append_payload`)."""


@dataclass(frozen=True)
class UsageCount:
    """A per-project daily counter (see the quotas migration), or an amount to add to one."""

    project_id: int
    day: int
    """UTC days since 1970-01-01."""
    kind: str
    """'accepted' (requests, request bytes), 'sessions' (new sessions), 'refused:<setting>'."""
    count: int
    bytes: int


@dataclass(frozen=True)
class UsageTotals:
    """What every process needs to enforce daily quotas: the quotas, and today's usage of the
    projects that have one, summed over every process that has synced."""

    quotas: dict[int, Project]
    today: dict[int, tuple[int, int]]
    """project id -> (request bytes accepted, sessions started) today."""


@dataclass(frozen=True)
class IncomingPayload:
    """One push, as it will be kept: `body` is gzip(JSON) in the SDK's payload shape.

    `digest` identifies the *decompressed* content (its CRC-32 and length, from the gzip
    trailer), so a retry is recognised even if the client compressed it again; `payload_id`
    orders payloads within a session.
    """

    payload_id: int
    digest: bytes
    source: PayloadSource
    received_at: int
    summary: PayloadSummary
    body: bytes


@dataclass(frozen=True)
class StoredPayload:
    seq: int
    payload_id: int
    source: PayloadSource
    received_at: int
    summary: PayloadSummary
    body: bytes


@dataclass(frozen=True)
class Feedback:
    verbatim: str
    timestamp: int
    user_name: str | None = None
    user_email: str | None = None


@dataclass(frozen=True)
class Metric:
    session_secure_id: str
    name: str
    value: float
    timestamp: int
    group: str | None = None
    category: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None
    trace_id: str | None = None
    tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class BackendErrorReport:
    """An error reported by a backend SDK; `project_id` is resolved before it is stored."""

    event: str
    type: str
    url: str
    source: str
    stack_trace: str
    timestamp: int
    session_secure_id: str | None = None
    request_id: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    log_cursor: str | None = None
    payload: str | None = None
    service_name: str | None = None
    service_version: str | None = None
    environment: str | None = None


@dataclass(frozen=True)
class OtlpBatch:
    """An OTLP/HTTP export request kept as received, decoded by processing later."""

    signal: Literal["traces", "metrics", "logs"]
    content_type: str
    content_encoding: str | None
    received_at: int
    body: bytes


@dataclass(frozen=True)
class SessionField:
    kind: FieldKind
    key: str
    value: str


@dataclass
class SessionRecord:
    """Everything stored about one session; used by tests and, later, by processing."""

    session: Session
    payloads: list[StoredPayload] = field(default_factory=list)
    fields: list[SessionField] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)


# -- processing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessingTiming:
    """When stored input becomes due for processing.

    A session is processed once no input has arrived for `inactivity_ms` (it is then
    "finished"; more input re-opens it), but at least every `max_delay_ms` while input keeps
    coming, so an open tab that pushes every 2 seconds is still processed.
    """

    inactivity_ms: int = 60_000
    max_delay_ms: int = 300_000


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


# -- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    project_id: int | None
    """None: the token reads every project."""
    created_at: int
    scope: TokenScope = "read"
    """read: every GET; admin: also what changes data (DELETE)."""


TimelineKey = tuple[float, int]
"""Where a page of a session timeline ends: the (time, row id) of its last row."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list read in (time, id) order."""

    items: list[T]
    next_after: TimelineKey | None
    """The key to read the next page after; None when this page is the last."""


@dataclass(frozen=True)
class NetworkWindow:
    """A page of a session's network rows, with the rows just around it.

    Resources and OTLP spans are merged when they are read (`footlight.api.network`); a
    span and its resource may fall on either side of a page boundary, so the rows within
    `margin` of the page come along for the merge, though only the page's own are shown.
    """

    before: list[tuple[TimelineKey, NetworkRequest]]
    page: list[tuple[TimelineKey, NetworkRequest]]
    after: list[tuple[TimelineKey, NetworkRequest]]
    more: bool


@dataclass(frozen=True)
class SessionQuery:
    """Filters of the session list; every given filter must hold."""

    project_ids: tuple[int, ...] | None = None
    started_after: int | None = None
    started_before: int | None = None
    user: str | None = None
    """Part of the identifier or the email, case-insensitive."""
    has_errors: bool | None = None
    url_contains: str | None = None
    environment: str | None = None
    min_active_ms: int | None = None
    after: tuple[int, int] | None = None
    """Keyset cursor: (created_at, id) of the last session of the previous page."""
    limit: int = 50


@dataclass(frozen=True)
class LogQuery:
    """Filters of the log list, newest first; every given filter must hold."""

    project_ids: tuple[int, ...] | None = None
    session_secure_id: str | None = None
    service_name: str | None = None
    level: str | None = None
    text: str | None = None
    """Part of the message, case-insensitive."""
    after: int | None = None
    """Only records at or after this time (epoch ms)."""
    before: int | None = None
    """Only records before this time (epoch ms)."""
    cursor: tuple[int, int] | None = None
    """Keyset: (timestamp, id) of the last record of the previous page."""
    limit: int = 50


@dataclass(frozen=True)
class SpanView:
    id: int
    project_id: int | None
    """Its session's project; None for a span of no session."""
    span: SpanRecord


@dataclass(frozen=True)
class BackendService:
    project_id: int
    name: str
    first_seen: int
    last_seen: int


@dataclass(frozen=True)
class LogView:
    id: int
    project_id: int | None
    session_secure_id: str | None
    entry: LogEntry


MAX_VIEW_FIELDS = 1000
"""Most properties (user, session, track fields) one session view holds; the rest are read
a page at a time (`Store.fields_page`, GET /api/v1/sessions/{id}/properties)."""


@dataclass(frozen=True)
class SessionView:
    id: int
    secure_id: str
    project_id: int
    created_at: int
    client_id: str | None
    identifier: str | None
    email: str | None
    user_object: str | None
    environment: str | None
    app_version: str | None
    service_name: str | None
    client_version: str | None
    user_agent: str | None
    processed_at: int | None
    processing: bool
    """Input is waiting to be processed (the session is live or was just re-opened)."""
    summary: SessionSummary | None
    fields: tuple[SessionField, ...] = ()
    fields_complete: bool = True
    """False when the session has more fields than a view holds (`MAX_VIEW_FIELDS`)."""

    def properties(self) -> dict[str, dict[str, list[str]]]:
        """The fields as {kind: {key: [values]}}, for each kind (user, session, track)."""
        grouped: dict[str, dict[str, list[str]]] = {"user": {}, "session": {}, "track": {}}
        for f in self.fields:
            grouped[f.kind].setdefault(f.key, []).append(f.value)
        return grouped


@dataclass(frozen=True)
class ErrorView:
    id: int
    project_id: int | None
    session_secure_id: str | None
    fingerprint: str
    error: ErrorOccurrence
    trace_id: str | None = None
    """The trace of the span that recorded it (OTLP), if any."""


@dataclass(frozen=True)
class ErrorGroupView:
    project_id: int
    fingerprint: str
    type: str
    message: str
    count: int
    sessions: int
    first_seen: int
    last_seen: int
    latest: ErrorOccurrence


@dataclass(frozen=True)
class PurgeResult:
    sessions: int
    orphans: int


class StoreLifecycle(Protocol):
    """Opening, closing and naming a store; what the server and the CLI do with any."""

    def exists(self) -> bool:
        """Whether the store has been created (without creating it)."""

    def describe(self) -> str:
        """Where the data lives, for people: a path or a database name."""

    async def open(self) -> None:
        """Create or migrate the schema; safe to call on an existing store."""

    async def close(self) -> None: ...

    async def check_writable(self) -> None:
        """Commit a tiny write; raise StoreUnavailable if that fails."""


class KeyLookup(Protocol):
    """Project keys to project ids: what ingest and processing both resolve."""

    async def project_for_key(self, key: str) -> int | None:
        """The project that owns an extra public key, if any."""

    async def projects_for_keys(self, keys: Mapping[str, int | None]) -> dict[str, int]:
        """The projects public keys name, for processing: each key's own project if it is an
        extra key, else the id it decodes to (given) if that project exists. Keys that name
        no project are left out."""


class IngestStore(KeyLookup, Protocol):
    """What ingest writes (footlight.ingest, footlight.graph): every write returns only once
    committed, so a 2xx means the data is durable."""

    def describe(self) -> str:
        """Where the data lives, for people: a path or a database name."""

    async def initialize_session(self, new: NewSession) -> Session:
        """Insert the session, or return the existing one with that secure id unchanged.

        Raises UnknownProject, or SessionOfAnotherProject if the id is taken elsewhere.
        """

    async def secure_id_for(self, session_id: int) -> str | None:
        """The secure id of the session with this numeric id (SDKs before 2022-08 send it)."""

    async def append_payload(
        self, secure_id: str, payload: IncomingPayload, max_session_bytes: int | None = None
    ) -> bool:
        """Store a push; False if identical content with that payload id is already stored.

        Raises SessionFull if the session's stored payload bytes would pass
        `max_session_bytes` (a retry of a stored payload is still answered False).
        """

    async def session_size(self, secure_id: str) -> SessionSize | None:
        """The session's project and stored bytes; None if there is no such session."""

    async def identify(
        self,
        secure_id: str,
        identifier: str,
        user_object: str | None,
        fields: Sequence[SessionField],
        at: int,
        *,
        max_fields: int | None = None,
    ) -> None:
        """Set the session's user and add user fields (see `add_fields` for `max_fields`)."""

    async def add_fields(
        self,
        secure_id: str,
        fields: Sequence[SessionField],
        at: int,
        *,
        max_fields: int | None = None,
    ) -> None:
        """Add session or track properties; a field already present is not added again.

        Raises TooManyFields, writing nothing, if the session would then hold more than
        `max_fields` fields (of all kinds).
        """

    async def add_feedback(self, secure_id: str, feedback: Feedback, at: int) -> None: ...

    async def add_metrics(self, metrics: Sequence[Metric], at: int) -> int:
        """Store metrics of one or more sessions, all or nothing; return how many were new."""

    async def add_backend_errors(
        self, project_id: int | None, errors: Sequence[BackendErrorReport], at: int
    ) -> int:
        """Store errors reported by backend SDKs, each exactly once.

        With `project_id` None each error's project comes from its session. All or nothing.
        """

    async def add_otlp_batch(self, batch: OtlpBatch) -> None: ...

    async def note_backend(self, project_id: int, name: str, at: int, limit: int) -> None:
        """Record that a backend service reported to a project (markBackendSetup)."""

    async def sync_usage(self, counts: Sequence[UsageCount], day: int) -> UsageTotals:
        """Add to the usage counters, all or nothing; return the quotas and `day`'s totals."""


class ProcessingStore(KeyLookup, Protocol):
    """The processing queue and what processing reads and writes (footlight.processing)."""

    async def claim_jobs(self, owner: str, now: int, lease_ms: int, limit: int) -> list[Job]:
        """Lease up to `limit` due jobs nobody holds (or whose lease ran out), except those in
        quarantine.

        Each claim counts an attempt and, in case this run never ends (the process dies),
        makes the job due again only after a delay that doubles with its attempts, starting
        at `lease_ms`.
        """

    async def renew_lease(self, job: Job, owner: str, until: int) -> bool:
        """Extend `owner`'s lease on a running job; False if another run has taken it over."""

    async def release_job(self, job: Job, owner: str, now: int) -> None:
        """Give a job back unfinished (the process is shutting down): due at once, and the
        attempt it was claimed for is not counted."""

    async def complete_job(self, job: Job, owner: str, derived: Derived) -> bool:
        """Swap in a job's results and finish it, atomically; False if input arrived meanwhile.

        Raises if `owner` no longer holds the lease (nothing is written then).
        """

    async def drop_job(self, job: Job, owner: str) -> None: ...

    async def fail_job(
        self, job: Job, owner: str, error: str, retry_at: int, *, quarantine: bool = False
    ) -> None:
        """Record a failed run; the job is due again at `retry_at`, or set aside for good
        (until an operator re-queues it) with `quarantine`."""

    async def session_input(self, session_id: int) -> SessionInput | None: ...

    async def session_payloads(
        self, session_id: int, after: tuple[int, int] | None, max_bytes: int
    ) -> list[StoredPayload]:
        """The session's next payloads in replay order after the (payload_id, seq) `after`:
        as many as fit in `max_bytes` of stored (compressed) bodies, and always at least one
        while any is left. Empty at the end."""

    async def otlp_input(self, batch_id: int) -> OtlpBatch | None: ...

    async def backend_error_input(self, error_id: int) -> BackendErrorInput | None: ...

    async def purge_expired(self, now: int, batch: int = 100) -> PurgeResult: ...


class ReadStore(Protocol):
    """What the read API and the UI read (footlight.api, footlight.ui), and their credentials."""

    async def list_projects(self) -> list[Project]: ...

    async def list_sessions(self, query: SessionQuery) -> list[SessionView]: ...

    async def session_view(self, secure_id: str, *, fields: bool = True) -> SessionView | None:
        """A session; with `fields`, its first properties too (`SessionView.fields_complete`)."""

    async def fields_page(
        self, secure_id: str, after: tuple[str, str, str] | None, limit: int
    ) -> tuple[list[SessionField], bool]:
        """A session's fields in (kind, key, value) order after `after`; whether more follow."""

    def payload_bodies(self, secure_id: str, page: int = 16) -> AsyncIterator[bytes]:
        """A session's payloads (gzip JSON) in replay order, read a few at a time."""

    async def payload_totals(self, secure_id: str) -> tuple[int, int]:
        """(payload count, stored bytes) of a session."""

    # A session's timelines, a page at a time in (time, id) order: `limit` items after
    # `after` (limit None reads them all: for tests and tools, never for a request).

    async def console_page(
        self, secure_id: str, after: TimelineKey | None = None, limit: int | None = None
    ) -> Page[ConsoleMessage]: ...

    async def network_window(
        self,
        secure_id: str,
        after: TimelineKey | None,
        limit: int,
        margin_ms: float,
        context_rows: int,
    ) -> NetworkWindow: ...

    async def websocket_page(
        self, secure_id: str, after: TimelineKey | None = None, limit: int | None = None
    ) -> Page[WebSocketEvent]: ...

    async def track_page(
        self, secure_id: str, after: TimelineKey | None = None, limit: int | None = None
    ) -> Page[TrackEvent]: ...

    async def feedback_page(
        self, secure_id: str, after: TimelineKey | None = None, limit: int | None = None
    ) -> Page[Feedback]: ...

    async def session_errors_page(
        self, secure_id: str, after: TimelineKey | None = None, limit: int | None = None
    ) -> Page[ErrorView]: ...

    async def errors(
        self,
        project_ids: Sequence[int] | None,
        *,
        session_secure_id: str | None = None,
        fingerprint: str | None = None,
        trace_id: str | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[ErrorView]: ...

    async def trace_spans(
        self,
        trace_ids: Sequence[str],
        project_ids: Sequence[int] | None,
        after: tuple[float, int] | None = None,
        limit: int = 200,
    ) -> list[SpanView]:
        """The spans of those traces in start order, after the keyset `after` (started_at,
        id), at most `limit`. With `project_ids`, only spans of those projects' sessions."""

    async def error_groups(
        self,
        project_ids: Sequence[int] | None,
        *,
        fingerprint: str | None = None,
        after: tuple[int, int, str] | None = None,
        limit: int = 50,
    ) -> list[ErrorGroupView]: ...

    async def logs(self, query: LogQuery) -> list[LogView]:
        """Log records matching `query`, newest first, at most `query.limit`."""

    async def backend_services(self, project_ids: Sequence[int] | None) -> list[BackendService]:
        """The backend services that reported to those projects (all: None), by project and
        name; at most Limits.max_backend_services a project."""

    async def delete_session(self, secure_id: str) -> bool:
        """Remove a session, its input and everything derived from it; False if unknown."""

    async def token_by_hash(self, token_hash: bytes) -> ApiToken | None: ...

    async def add_ui_session(self, id_hash: bytes, token_id: int, at: int, expires_at: int) -> None:
        """Record a sign-in (the hash of its cookie) standing for an API token."""

    async def ui_session_token(self, id_hash: bytes, now: int) -> ApiToken | None:
        """The token an unexpired sign-in stands for; None if unknown, expired or revoked."""

    async def delete_ui_session(self, id_hash: bytes) -> None: ...


class AdminStore(Protocol):
    """What operators change and inspect (footlight.cli): projects, quotas, tokens, the queue."""

    async def create_project(self, name: str, keys: Sequence[str] = ()) -> Project: ...

    async def ensure_default_project(self) -> Project | None:
        """Create project 1 if the store has no project yet; return it, or None if one existed."""

    async def queued_jobs(self) -> int:
        """Jobs waiting to be done (quarantined jobs are not counted: they wait for a person)."""

    async def quarantined_jobs(self) -> list[QueuedJob]: ...

    async def retry_quarantined(
        self, now: int, kind: JobKind | None = None, key: int | None = None
    ) -> int:
        """Put quarantined jobs (all, or the one named) back in the queue, due now, with their
        attempts reset; return how many."""

    async def set_retention(self, project_id: int, days: int | None) -> None: ...

    async def set_quotas(self, project_id: int, quotas: Mapping[str, int | None]) -> Project:
        """Set some of a project's daily quotas (names in QUOTAS; None removes one)."""

    async def usage(self, project_ids: Sequence[int] | None, since_day: int) -> list[UsageCount]:
        """The counters of these projects (None: all, and project 0) from `since_day` on."""

    async def add_token(
        self,
        token_hash: bytes,
        name: str,
        project_id: int | None,
        at: int,
        scope: TokenScope = "read",
    ) -> ApiToken: ...

    async def list_tokens(self) -> list[ApiToken]: ...

    async def revoke_token(self, token_id: int) -> bool: ...


class Store(StoreLifecycle, IngestStore, ProcessingStore, ReadStore, AdminStore, Protocol):
    """A durable home for ingested data: every role at once, as `footlight.store.open_store`
    returns it. Callers that need one role take that role's protocol."""
