"""What the read API and the UI read: queries, pages and the views of sessions, errors, logs
and spans."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from footlight.core.records import (
    ErrorOccurrence,
    LogEntry,
    NetworkRequest,
)
from footlight.store._processing import SessionSummary, SpanRecord
from footlight.store._writes import SessionField, TokenScope

T = TypeVar("T")


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
class ProjectIntake:
    """What has reached a project lately, for the setup page."""

    project_id: int
    last_session_at: int | None
    """When its newest session started."""
    last_session_secure_id: str | None
    sdk_version: str | None
    """The browser SDK version its newest session named (`clientVersion`)."""
    last_push_at: int | None
    """When a payload of one of its newest sessions was last stored."""
    last_browser_span_at: int | None
    """When a span of one of its newest sessions (the browser's OTLP) last started."""
    last_backend_error_at: int | None
    """When a backend error (pushBackendPayload) was last stored for it."""


@dataclass(frozen=True)
class RecordingPage:
    """A page of a session's recording: stored payloads in replay order after a place."""

    bodies: list[bytes]
    """The payloads as stored (gzip JSON)."""
    through: tuple[int, int] | None
    """The (payload_id, seq) of the page's last payload, to read on after; None if empty."""
    more: bool
    """Whether payloads follow the page (stored so far)."""
    last_input_at: int | None
    """When the session's newest payload was stored (epoch ms); None if it has none."""


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
    bytes_freed: int = 0
    """Payload bytes of the deleted sessions (what they held in recordings)."""
    returned_bytes: int = 0
    """Disk given back by dropping whole months of payloads (PostgreSQL's partitions)."""
    assets: int = 0
    """Captured assets deleted because no kept session references them any more."""


@dataclass(frozen=True)
class Reclaimed:
    """What giving deleted data's space back to the file system did."""

    returned_bytes: int
    """Space the store gave back (SQLite: free pages cut off the file; PostgreSQL: how much
    the database shrank)."""
    stuck_bytes: int = 0
    """Free space the store could not give back this way: a SQLite store made before
    footlight turned on incremental vacuum needs one `footlight purge --compact`."""


@dataclass(frozen=True)
class QueueState:
    """Processing jobs of one kind (`footlight status`, `/metrics`)."""

    kind: str
    waiting: int
    """Jobs not quarantined, due or not."""
    due: int
    """Jobs due now that no run holds."""
    oldest_due_at: int | None
    """When the longest-waiting of the due ones fell due: processing's lag."""
    quarantined: int


@dataclass(frozen=True)
class TableSize:
    name: str
    rows: int
    """Exact on SQLite (counted); PostgreSQL's estimate (from its statistics)."""
    bytes: int | None
    """Its data and indexes on disk (PostgreSQL); None where the engine cannot tell cheaply."""


@dataclass(frozen=True)
class StoreFootprint:
    """What the store takes on disk."""

    used_bytes: int
    """SQLite: the database file and its WAL; PostgreSQL: the database's size."""
    reusable_bytes: int | None
    """Space inside the store free for new data but not returned to the file system
    (SQLite's free pages); None where the engine does not say."""
    free_bytes: int | None
    """Free space on the file system holding the store (SQLite); None when it is elsewhere."""
    tables: list[TableSize]
    """Per table, when asked for (counting rows reads every table)."""


@dataclass(frozen=True)
class ProjectStorage:
    """What one project holds, for people deciding about disk and retention."""

    project_id: int
    name: str
    retention_days: int | None
    sessions: int
    payload_bytes: int
    """Recording payload bytes as stored (the bulk of a project's disk)."""
    oldest_session_at: int | None
    expired_sessions: int
    """Sessions older than the project's retention: the next purge deletes them."""
    expired_bytes: int
    recent_sessions: int
    """Sessions started in the last hour."""
    recent_payloads: int
    """Payloads stored in the last hour, and their bytes."""
    recent_bytes: int


@dataclass(frozen=True)
class StoreGauges:
    """The cheap part of the store's state, read at every metrics scrape."""

    queue: list[QueueState]
    recording_sessions: int
    """Sessions whose processing job is pending: started and not yet finished."""
    footprint: StoreFootprint
