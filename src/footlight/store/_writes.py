"""What ingest hands the store and what the store says back: projects, sessions, payloads,
and the other writes of the public API, each kept as the client sent it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import msgspec

from footlight.core.payload import PayloadSummary

FieldKind = Literal["user", "session", "track"]
PayloadSource = Literal["compressed", "legacy"]
JobKind = Literal["session", "otlp", "backend", "live", "assets"]
JOB_KINDS: tuple[JobKind, ...] = ("session", "otlp", "backend", "live", "assets")
TokenScope = Literal["read", "admin"]
TOKEN_SCOPES: tuple[TokenScope, ...] = ("read", "admin")


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
UNKNOWN_PROJECT = "UNKNOWN_PROJECT"
"""The code an `IntakeRefusal` is counted under when the project it named does not exist."""
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


class IncomingPayload(msgspec.Struct, frozen=True):
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


@dataclass(frozen=True)
class IntakeRefusal:
    """Requests ingest refused for one reason, named by project: `count` of them between
    `first_at` and `last_at`, `example` the message the last one was answered."""

    project: str
    """The project's verbose id, or (for a project this store lacks) the id as sent."""
    code: str
    """The error code the requests were answered (`extensions.code`)."""
    count: int
    first_at: int
    last_at: int
    example: str
