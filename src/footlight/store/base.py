"""The storage interface every backend implements, and the records that cross it.

Callers (ingest, the CLI, tests) only see `Store` and these records. A method returns once
its write is durable; it raises one of the `StoreError` subclasses below for a condition the
caller must report (an unknown session, a session of another project) and `StoreUnavailable`
when the backend cannot take writes at all, which the HTTP edge turns into 503 + Retry-After.

Idempotency lives here, not in callers: every write is keyed so that a client's retry of the
same request stores nothing twice (see each method).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

FieldKind = Literal["user", "session", "track"]
PayloadSource = Literal["compressed", "legacy"]


class StoreError(Exception):
    """A write was refused for a reason the client must hear about; nothing was written."""


class UnknownSession(StoreError):
    def __init__(self, secure_id: str) -> None:
        super().__init__(f"no session with secure id {secure_id!r}; call initializeSession first")
        self.secure_id = secure_id


class SessionOfAnotherProject(StoreError):
    def __init__(self, secure_id: str, project_id: int) -> None:
        super().__init__(f"session {secure_id!r} belongs to another project than {project_id}")
        self.secure_id = secure_id


class UnknownProject(StoreError):
    def __init__(self, project_id: int) -> None:
        super().__init__(f"no project with id {project_id}")
        self.project_id = project_id


class StoreUnavailable(Exception):
    """The backend cannot take writes right now (disk full, database down); try again later."""


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    created_at: int
    keys: tuple[str, ...] = ()


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


@dataclass(frozen=True)
class PayloadSummary:
    """Cheap facts about a payload's rrweb events, computed once at ingest."""

    event_count: int
    first_event_at: int | None
    last_event_at: int | None
    has_full_snapshot: bool


@dataclass(frozen=True)
class IncomingPayload:
    """One push, as it will be kept: `body` is gzip(JSON) in the SDK's payload shape.

    `digest` identifies the *decompressed* content, so a retry is recognised even if the
    client compressed it again; `payload_id` orders payloads within a session.
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
class BackendError:
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


class Store(Protocol):
    """A durable home for ingested data. Every write method returns only once committed."""

    def exists(self) -> bool:
        """Whether the store has been created (without creating it)."""

    def describe(self) -> str:
        """Where the data lives, for people: a path or a database name."""

    async def open(self) -> None:
        """Create or migrate the schema; safe to call on an existing store."""

    async def close(self) -> None: ...

    async def check_writable(self) -> None:
        """Commit a tiny write; raise StoreUnavailable if that fails."""

    async def create_project(self, name: str, keys: Sequence[str] = ()) -> Project: ...

    async def list_projects(self) -> list[Project]: ...

    async def ensure_default_project(self) -> Project | None:
        """Create project 1 if the store has no project yet; return it, or None if one existed."""

    async def project_for_key(self, key: str) -> int | None:
        """The project that owns an extra public key, if any."""

    async def project_exists(self, project_id: int) -> bool: ...

    async def initialize_session(self, new: NewSession) -> Session:
        """Insert the session, or return the existing one with that secure id unchanged.

        Raises UnknownProject, or SessionOfAnotherProject if the id is taken elsewhere.
        """

    async def secure_id_for(self, session_id: int) -> str | None:
        """The secure id of the session with this numeric id (SDKs before 2022-08 send it)."""

    async def append_payload(self, secure_id: str, payload: IncomingPayload) -> bool:
        """Store a push; False if identical content with that payload id is already stored."""

    async def identify(
        self,
        secure_id: str,
        identifier: str,
        user_object: str | None,
        fields: Sequence[SessionField],
        at: int,
    ) -> None: ...

    async def add_fields(self, secure_id: str, fields: Sequence[SessionField], at: int) -> None:
        """Add session or track properties; a field already present is not added again."""

    async def add_feedback(self, secure_id: str, feedback: Feedback, at: int) -> None: ...

    async def add_metrics(self, metrics: Sequence[Metric], at: int) -> int:
        """Store metrics of one or more sessions, all or nothing; return how many were new."""

    async def add_backend_errors(
        self, project_id: int | None, errors: Sequence[BackendError], at: int
    ) -> int:
        """Store errors reported by backend SDKs, each exactly once.

        With `project_id` None each error's project comes from its session. All or nothing.
        """

    async def add_otlp_batch(self, batch: OtlpBatch) -> None: ...

    async def session_record(self, secure_id: str) -> SessionRecord | None: ...

    async def backend_errors(self, project_id: int) -> list[BackendError]: ...

    async def otlp_batches(self) -> list[OtlpBatch]: ...
