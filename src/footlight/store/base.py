"""The store's seam: what every backend implements, one protocol per role, and the records
that cross it.

Each caller takes the role it uses: `IngestStore` (ingest and the GraphQL resolvers),
`ProcessingStore` (the processing worker), `ReadStore` (the read API and the UI),
`AdminStore` (the CLI); `KeyLookup` is what ingest and processing share, `StoreLifecycle`
what the server and the CLI do with any store, and `Store` all of them at once. The records
are defined by role in `_writes`, `_processing` and `_views` and re-exported here.

A write method returns once its write is durable; it raises one of the `StoreError`
subclasses (`footlight.errors`) for a condition the caller must report (an unknown session,
a session of another project) and `StoreUnavailable` when the backend cannot take writes at
all, which the HTTP edge turns into 503 + Retry-After.

Idempotency lives here, not in callers: every write is keyed so that a client's retry of the
same request stores nothing twice (see each method).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Protocol

from footlight.core.records import (
    ConsoleMessage,
    TrackEvent,
    WebSocketEvent,
)
from footlight.store._assets import (
    ASSET_STATUSES,
    AssetBody,
    AssetReport,
    AssetScan,
    AssetStatus,
    SessionAsset,
)
from footlight.store._processing import (
    BackendErrorInput,
    Backfill,
    Derived,
    DerivedLog,
    DerivedOccurrence,
    Job,
    LiveInput,
    MetricRecord,
    PageVisit,
    PayloadKey,
    ProcessingTiming,
    QueuedJob,
    ServiceSeen,
    SessionInput,
    SessionSummary,
    SpanRecord,
)
from footlight.store._views import (
    MAX_VIEW_FIELDS,
    ApiToken,
    BackendService,
    ErrorGroupView,
    ErrorView,
    LogQuery,
    LogView,
    NetworkWindow,
    Page,
    ProjectIntake,
    ProjectStorage,
    PurgeResult,
    QueueState,
    Reclaimed,
    RecordingPage,
    SessionQuery,
    SessionView,
    SpanView,
    StoreFootprint,
    StoreGauges,
    TableSize,
    TimelineKey,
)
from footlight.store._writes import (
    JOB_KINDS,
    QUOTAS,
    TOKEN_SCOPES,
    UNKNOWN_PROJECT,
    BackendErrorReport,
    Feedback,
    FieldKind,
    IncomingPayload,
    IntakeRefusal,
    JobKind,
    Metric,
    NewSession,
    OtlpBatch,
    PayloadSource,
    Project,
    Session,
    SessionField,
    SessionRecord,
    SessionSize,
    StoredPayload,
    TokenScope,
    UsageCount,
    UsageTotals,
)

__all__ = [
    "ASSET_STATUSES",
    "JOB_KINDS",
    "MAX_VIEW_FIELDS",
    "QUOTAS",
    "TOKEN_SCOPES",
    "UNKNOWN_PROJECT",
    "AdminStore",
    "ApiToken",
    "AssetBody",
    "AssetReport",
    "AssetScan",
    "AssetStatus",
    "AssetStore",
    "BackendErrorInput",
    "BackendErrorReport",
    "BackendService",
    "Backfill",
    "Derived",
    "DerivedLog",
    "DerivedOccurrence",
    "ErrorGroupView",
    "ErrorView",
    "Feedback",
    "FieldKind",
    "IncomingPayload",
    "IngestStore",
    "IntakeRefusal",
    "Job",
    "JobKind",
    "KeyLookup",
    "LiveInput",
    "LogQuery",
    "LogView",
    "Metric",
    "MetricRecord",
    "NetworkWindow",
    "NewSession",
    "OtlpBatch",
    "Page",
    "PageVisit",
    "PayloadKey",
    "PayloadSource",
    "ProcessingStore",
    "ProcessingTiming",
    "Project",
    "ProjectIntake",
    "ProjectStorage",
    "PurgeResult",
    "QueueState",
    "QueuedJob",
    "ReadStore",
    "Reclaimed",
    "RecordingPage",
    "ServiceSeen",
    "Session",
    "SessionAsset",
    "SessionField",
    "SessionInput",
    "SessionQuery",
    "SessionRecord",
    "SessionSize",
    "SessionSummary",
    "SessionView",
    "SpanRecord",
    "SpanView",
    "Store",
    "StoreFootprint",
    "StoreGauges",
    "StoreLifecycle",
    "StoredPayload",
    "TableSize",
    "TimelineKey",
    "TokenScope",
    "UsageCount",
    "UsageTotals",
]


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

    def free_disk_bytes(self) -> int | None:
        """Free space on the file system holding the store, if it is this machine's (SQLite);
        None when the store is elsewhere (PostgreSQL). A system call: cheap, not async."""

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

    async def note_refusals(self, refusals: Sequence[IntakeRefusal], keep: int) -> None:
        """Add to the counts of refused requests by (project, code); keep the `keep` most
        recently refused pairs."""


class ProcessingStore(KeyLookup, Protocol):
    """The processing queue and what processing reads and writes (footlight.processing)."""

    async def claim_jobs(
        self,
        owner: str,
        now: int,
        lease_ms: int,
        limit: int,
        kinds: Sequence[JobKind] = JOB_KINDS,
    ) -> list[Job]:
        """Lease up to `limit` due jobs of `kinds` nobody holds (or whose lease ran out),
        except those in quarantine.

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

        A session's results replace its live rows too, and move its live cursor to
        `derived.through` (queueing a live run if live rows had gone past it).

        Raises if `owner` no longer holds the lease (nothing is written then).
        """

    async def drop_job(self, job: Job, owner: str) -> None: ...

    async def live_cursor(self, session_id: int) -> PayloadKey | None:
        """The last payload the session's live rows cover; None before its first live run."""

    async def live_input(self, session_id: int, max_bytes: int) -> LiveInput | None:
        """The session, its live cursor and the payloads after the cursor (as many as
        `session_payloads` would give), read together; None if the session is gone."""

    async def append_live(
        self, job: Job, owner: str, derived: Derived, since: PayloadKey | None
    ) -> bool:
        """A live run's rows (origin 'live:<id>') and summary, its session's live cursor moved
        from `since` to `derived.through` and its job finished unless input arrived meanwhile,
        atomically. False, with nothing written, if the cursor is no longer at `since` (the
        finished session was processed meanwhile; the job is due again at once) or `owner`
        lost the lease."""

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

    async def purge_expired(
        self,
        now: int,
        batch: int = 100,
        progress: Callable[[int, int], None] | None = None,
    ) -> PurgeResult:
        """Delete what is older than its project's retention, one session per transaction;
        `progress` is told (sessions, payload bytes) after each."""

    async def expired_otlp_batches(self, now: int) -> int:
        """Stored OTLP exports `purge_expired` would delete now."""

    async def reclaim_space(self) -> Reclaimed:
        """Give the space of deleted data back to the file system, in short steps beside
        ingest (SQLite's incremental vacuum; PostgreSQL's plain VACUUM)."""


class ReadStore(Protocol):
    """What the read API and the UI read (footlight.api, footlight.ui), and their credentials."""

    async def asset_origins(self, project_id: int) -> tuple[str, ...]:
        """The origins whose assets the project's recordings keep (empty: none)."""

    async def session_asset_map(self, session_id: int) -> dict[str, tuple[bytes, str]]:
        """URL -> (digest, content type) of every asset the session stored."""

    async def session_asset(
        self, session_id: int, digest: bytes
    ) -> tuple[SessionAsset, bytes] | None:
        """An asset the session links, and its bytes; None if it links no such asset."""

    async def session_asset_report(self, session_id: int) -> AssetReport: ...

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

    async def recording_page(
        self, session_id: int, after: PayloadKey | None, max_bytes: int
    ) -> RecordingPage:
        """The session's payloads after `after` in replay order, as many as fit in
        `max_bytes` of stored bodies (at least one while any is left), for a client that
        follows the recording a page at a time."""

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

    async def project_intake(self, project_ids: Sequence[int]) -> list[ProjectIntake]:
        """What reached each project lately (its newest sessions, pushes, browser spans,
        backend errors), in `project_ids` order."""

    async def refusals(self, projects: Sequence[str] | None, limit: int) -> list[IntakeRefusal]:
        """Refused requests by (project, code), most recently refused first: of `projects`
        (verbose ids), or with None those naming a project this store lacks."""

    async def store_gauges(self, now: int) -> StoreGauges:
        """Queue, sessions recording and disk: cheap enough for every metrics scrape."""

    async def footprint(self, tables: bool = False) -> StoreFootprint:
        """What the store takes on disk; with `tables`, each table's rows (counting them
        reads every table on SQLite)."""

    async def derived_rows(self, project_ids: Sequence[int] | None = None) -> dict[int, int]:
        """Rows processing derived, per project (console, network, errors, pages, spans,
        logs, ...): counting them reads every derived table."""

    async def project_storage(
        self, now: int, project_ids: Sequence[int] | None = None
    ) -> list[ProjectStorage]:
        """Per project: sessions, payload bytes, oldest data, what its retention would delete
        now, and what arrived in the last hour."""

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

    async def compact(self) -> Reclaimed:
        """Rewrite the whole store (SQLite's VACUUM): writes wait until it is done. Turns on
        incremental vacuum for a SQLite store made before footlight used it."""

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


class AssetStore(ProcessingStore, Protocol):
    """Asset capture (footlight.processing.assets) and the replay's reads of what it kept;
    see the SQL store's `assets` module for how it is kept."""

    async def set_asset_origins(self, project_id: int, origins: Sequence[str]) -> None:
        """Replace the project's asset origins (empty: capture off for it)."""

    async def asset_scan(self, session_id: int) -> AssetScan | None:
        """Where the session's capture stands; None if the session is gone."""

    async def recent_asset(self, project_id: int, url: str, since: int) -> SessionAsset | None:
        """The newest stored fetch of `url` by any session of the project since `since`."""

    async def asset_body(self, digest: bytes) -> bytes | None:
        """A kept asset's bytes (a linked stylesheet's, to follow the URLs inside it)."""

    async def record_assets(
        self,
        session_id: int,
        project_id: int,
        rows: Sequence[SessionAsset],
        bodies: Sequence[AssetBody] = (),
    ) -> None:
        """Keep fetched bytes (once per digest) and the session's rows, atomically; a URL
        with a row already keeps its first one."""

    async def finish_assets(
        self, job: Job, owner: str, cursor: PayloadKey | None, dropped: int
    ) -> bool:
        """Move the session's scan to `cursor`, add `dropped` to its URLs left unrecorded,
        and end the job unless input arrived meanwhile; LeaseLost if taken over."""


class Store(StoreLifecycle, IngestStore, AssetStore, ReadStore, AdminStore, Protocol):
    """A durable home for ingested data: every role at once, as `footlight.store.open_store`
    returns it. Callers that need one role take that role's protocol."""
