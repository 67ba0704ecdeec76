"""What each public-graph operation means, between the protocol and the store.

Highlight's resolvers only enqueued; a worker later created sessions and read payloads, and
dropped silently whatever it could not use. Here the work that decides *whether* data can be
kept happens before the answer: the project is resolved, the session looked up, the payload
inflated and validated, and the write committed. A success therefore means stored, and a
refusal reaches the client as an error that names the problem, with nothing written.

CPU-heavy decoding of large payloads runs on an ingest thread (`ingest.offload`), so one big
FullSnapshot does not stall every other request on the event loop.

Before any of that, the limiter (`footlight.ingest.quotas`) admits the request by its
session's and project's rates and quotas: a refusal comes before the payload is inflated
or anything is written. A session's project never changes, so the limiter's map of recent
sessions doubles as a cache of it: a push reads nothing from the store before its write
(only the first request of a session this process has not seen does).
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import msgspec

from footlight import logs, metrics
from footlight.config import Limits
from footlight.core import payload as payloads
from footlight.core.clock import now_ms
from footlight.core.ids import decode_project, encode_project, parse_int64
from footlight.errors import (
    BadInput,
    Forbidden,
    IngestError,
    NotFound,
    SessionFull,
    SessionOfAnotherProject,
    StoreError,
    UnknownProject,
    UnknownSession,
    shown,
)
from footlight.ingest.bounds import Bounds
from footlight.ingest.daily_quotas import Ticket
from footlight.ingest.disk import DiskWatch
from footlight.ingest.offload import run_off_loop, run_sized
from footlight.ingest.quotas import Limiter, Tracked
from footlight.ingest.refusals import RefusalCounter
from footlight.store import (
    BackendErrorReport,
    Feedback,
    FieldKind,
    IncomingPayload,
    Metric,
    NewSession,
    OtlpBatch,
    PayloadSource,
    Session,
    SessionField,
)
from footlight.store.base import IngestStore, JobKind
from footlight.store.projects import ProjectKeys

T = TypeVar("T")

WorkQueued = Callable[[JobKind], None]
"""Told, once a write that queued a processing job has committed, which kind it queued: how
the processing of the same process learns of new work without waiting for its next poll.
Called on the event loop, once per committed request, so it must be cheap and never block."""


def _nobody_listens(kind: JobKind) -> None:
    pass


_SECURE_ID_ALPHABET = string.ascii_letters + string.digits
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def new_secure_id() -> str:
    """A 28-character base62 id, like the SDK's own."""
    return "".join(secrets.choice(_SECURE_ID_ALPHABET) for _ in range(28))


def field_value(value: Any) -> str:
    """How a property value is kept: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode()


def bounded_properties(
    bounds: Bounds, kind: FieldKind, properties: Mapping[str, Any], name: str
) -> tuple[list[SessionField], dict[str, Any]]:
    """A properties object as fields (non-empty values as text, cut to size), and as the
    object to keep whole: each value as sent, or its cut text if it was too long."""
    bounds.keys(properties, name)
    fields: list[SessionField] = []
    kept: dict[str, Any] = {}
    for key, value in properties.items():
        text = "" if value is None else field_value(value)
        bounded = bounds.value(text)
        kept[key] = value if bounded is text else bounded
        if bounded:
            fields.append(SessionField(kind, key, bounded))
    return fields, kept


def to_epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def _translate(operation: Awaitable[T]) -> T:
    """Store refusals become client errors with a precise code."""
    try:
        return await operation
    except UnknownSession as exc:
        raise NotFound(str(exc)) from None
    except UnknownProject as exc:
        raise NotFound(str(exc)) from None
    except SessionOfAnotherProject as exc:
        raise Forbidden(str(exc)) from None
    except StoreError as exc:
        raise BadInput(str(exc)) from None


class ClientInfo(msgspec.Struct, frozen=True):
    """What the HTTP request says about the browser (kept with a new session) and about the
    request (what limits count)."""

    user_agent: str | None = None
    accept_language: str | None = None
    key: str = "unknown"
    """The client address per-client limits count against (`edge.clients.client_key`)."""
    request_bytes: int = 0
    """The size of the request body."""


_NO_CLIENT = ClientInfo()


async def _within(ticket: Ticket, work: Awaitable[T]) -> T:
    """`work`, whose request `ticket` admitted: if it fails, nothing counts as accepted."""
    try:
        return await work
    except BaseException:
        ticket.cancel()
        raise


class Ingestor:
    def __init__(
        self,
        store: IngestStore,
        limits: Limits,
        work_queued: WorkQueued = _nobody_listens,
        *,
        first_session: Callable[[Session], None] | None = None,
    ) -> None:
        """`first_session` is told of the first session this process starts for each
        project (the server says so on its terminal)."""
        self.store = store
        self.limits = limits
        self.work_queued = work_queued
        self.bounds = Bounds(limits)
        self.limiter = Limiter(limits, store)
        self.projects = ProjectKeys(store)
        self.refusals = RefusalCounter(limits.refusals_kept)
        self.disk = DiskWatch(store.free_disk_bytes, limits.min_free_disk_bytes)
        self._first_session = first_session
        self._projects_seen: set[int] = set()

    async def _session(self, secure_id: str) -> Tracked:
        """What the limiter tracks about a stored session; NotFound if there is none."""
        tracked = self.limiter.sessions.get(secure_id)
        if tracked is None:
            size = await _translate(self.store.session_size(secure_id))
            if size is None:
                raise NotFound(str(UnknownSession(secure_id)))
            tracked = self.limiter.sessions.add(secure_id, size.project_id, size.stored_bytes)
        logs.project.set(str(tracked.project))
        return tracked

    def _admit(self, secure_id: str, session: Tracked, client: ClientInfo, stored: int) -> Ticket:
        self.limiter.note_project(client.key, session.project)
        return self.limiter.admit_session_request(secure_id, session, client.request_bytes, stored)

    async def resolve_project(self, key: str) -> int:
        """The project a public key names: an extra key, its numeric id, or its hashid."""
        project_id = await _translate(self.store.project_for_key(key))
        if project_id is None:
            project_id = decode_project(key)
        if project_id is None:
            raise NotFound(
                f"unknown project {shown(key)}: not a project id, a project's verbose id, or a key"
                " added with `footlight project create --key`"
            )
        return project_id

    async def session_reference(self, secure_id: str | None, session_id: Any) -> str:
        """The secure id of the session a request names, by secure id or (old SDKs) number."""
        if secure_id:
            return self.bounds.secure_id(secure_id)
        if session_id is None or session_id == "":
            raise BadInput("session_secure_id is required")
        number = parse_int64(session_id, "session_id")
        found = await self.store.secure_id_for(number)
        if found is None:
            raise NotFound(f"no session with id {number}; call initializeSession first")
        return found

    async def initialize_session(
        self, project_key: str, secure_id: str | None, client: ClientInfo, **details: Any
    ) -> Session:
        if secure_id is not None and not secure_id.strip():
            raise BadInput("session_secure_id must not be empty")
        if secure_id is not None:
            self.bounds.secure_id(secure_id)
        try:
            project_id = await self.resolve_project(project_key)
        except NotFound as exc:
            self.refusals.note_unknown(project_key, str(exc))
            raise
        logs.project.set(str(project_id))
        try:
            session = await self._initialize(project_id, secure_id, client, details)
        except IngestError as exc:
            self.refusals.note(encode_project(project_id), exc.code, str(exc))
            raise
        if session.created and project_id not in self._projects_seen:
            self._projects_seen.add(project_id)
            if self._first_session is not None:
                self._first_session(session)
        return session

    async def _initialize(
        self, project_id: int, secure_id: str | None, client: ClientInfo, details: dict[str, Any]
    ) -> Session:
        b = self.bounds
        domains = details.pop("network_recording_domains", None)
        if domains is not None:
            domains = tuple(b.value(d) for d in b.items(domains, "network_recording_domains"))
        client_config = b.optional_text(details.pop("client_config", None))
        # The rest are short strings (ids, versions, names) or booleans.
        short: dict[str, Any] = {
            k: b.value(v) if isinstance(v, str) else v for k, v in details.items()
        }
        generated = not secure_id
        secure_id = secure_id or new_secure_id()
        # Reloads send initializeSession again for their session: only a new one counts
        # towards the limits on new sessions.
        existing = self.limiter.sessions.get(secure_id)
        if existing is None and not generated:
            size = await _translate(self.store.session_size(secure_id))
            if size is not None:
                existing = self.limiter.sessions.add(secure_id, size.project_id, size.stored_bytes)
        if existing is None:
            self.disk.admit_new_session()
        ticket = self.limiter.admit_init(
            client.key, project_id, secure_id, existing, client.request_bytes
        )
        new = NewSession(
            secure_id=secure_id,
            project_id=project_id,
            created_at=now_ms(),
            user_agent=b.optional_value(client.user_agent),
            accept_language=b.optional_value(client.accept_language),
            client_config=client_config,
            network_recording_domains=domains,
            **short,
        )
        session = await _within(ticket, _translate(self.store.initialize_session(new)))
        if existing is None:
            if not session.created:
                ticket.not_new()  # another process created it meanwhile
            self.limiter.sessions.add(secure_id, session.project_id)
        return session

    async def push_compressed(
        self, secure_id: str, payload_id: Any, data: str, client: ClientInfo = _NO_CLIENT
    ) -> None:
        self.bounds.secure_id(secure_id)
        number = parse_int64(payload_id, "payload_id")
        session = await self._session(secure_id)
        try:
            ticket = self._admit(secure_id, session, client, payloads.stored_size(data))
            await _within(ticket, self._push_compressed(secure_id, session, number, data))
        except IngestError as exc:
            self.refusals.note(encode_project(session.project), exc.code, str(exc))
            raise

    async def _push_compressed(
        self, secure_id: str, session: Tracked, payload_id: int, data: str
    ) -> None:
        decoded = await run_sized(
            len(data),
            True,
            payloads.decode_compressed,
            data,
            self.limits.max_inflated_bytes,
            self.limits.max_events_per_payload,
        )
        await self._append(secure_id, session, payload_id, "compressed", decoded)

    async def push_legacy(
        self, secure_id: str, arguments: Mapping[str, Any], client: ClientInfo = _NO_CLIENT
    ) -> int:
        raw_id = arguments.get("payload_id")
        number = 0 if raw_id is None else parse_int64(raw_id, "payload_id")
        session = await self._session(secure_id)
        try:
            # What it will store is known only once encoded: the store enforces the size cap.
            ticket = self._admit(secure_id, session, client, 0)
            return await _within(ticket, self._push_legacy(secure_id, session, number, arguments))
        except IngestError as exc:
            self.refusals.note(encode_project(session.project), exc.code, str(exc))
            raise

    async def _push_legacy(
        self, secure_id: str, session: Tracked, payload_id: int, arguments: Mapping[str, Any]
    ) -> int:
        # Always off the loop: the events (the bulk) are parsed objects whose size is not
        # known here, and only SDKs from before 2022 use this path.
        decoded = await run_off_loop(
            payloads.encode_legacy, arguments, self.limits.max_events_per_payload
        )
        await self._append(secure_id, session, payload_id, "legacy", decoded)
        return decoded.summary.event_count

    async def _append(
        self,
        secure_id: str,
        session: Tracked,
        payload_id: int,
        source: PayloadSource,
        decoded: payloads.DecodedPayload,
    ) -> None:
        incoming = IncomingPayload(
            payload_id=payload_id,
            digest=decoded.digest,
            source=source,
            received_at=now_ms(),
            summary=decoded.summary,
            body=decoded.body,
        )
        try:
            stored = await self.store.append_payload(
                secure_id, incoming, self.limits.max_session_bytes
            )
        except SessionFull as exc:
            # Other processes filled it since this one last looked.
            session.stored_bytes = exc.stored_bytes
            raise self.limiter.session_full(secure_id, session, exc.size) from None
        except UnknownSession as exc:
            self.limiter.sessions.forget(secure_id)  # deleted meanwhile
            raise NotFound(str(exc)) from None
        except StoreError as exc:
            raise BadInput(str(exc)) from None
        if stored:
            session.stored_bytes += len(decoded.body)
            metrics.payloads_stored.inc()
            metrics.payload_bytes_stored.inc(len(decoded.body))
            self.work_queued("session")
            self.work_queued("live")
            self.work_queued("assets")

    async def identify(
        self,
        secure_id: str,
        identifier: str,
        user_object: Any,
        client: ClientInfo = _NO_CLIENT,
    ) -> None:
        if user_object is not None and not isinstance(user_object, dict):
            raise BadInput("user_object must be a JSON object")
        user_object = user_object or {}
        user_fields, kept = bounded_properties(self.bounds, "user", user_object, "user_object")
        identifier = self.bounds.value(identifier)
        fields: list[SessionField] = []
        if identifier:
            fields.append(SessionField("user", "identifier", identifier))
            if _EMAIL.fullmatch(identifier):
                fields.append(SessionField("user", "email", identifier))
        fields.extend(user_fields)
        encoded = msgspec.json.encode(kept).decode() if kept else None
        ticket = self._admit(secure_id, await self._session(secure_id), client, 0)
        await _within(
            ticket,
            _translate(
                self.store.identify(
                    secure_id,
                    identifier,
                    encoded,
                    fields,
                    now_ms(),
                    max_fields=self.limits.max_properties_per_session,
                )
            ),
        )
        self.work_queued("session")

    async def add_properties(
        self,
        secure_id: str,
        kind: FieldKind,
        properties: Any,
        client: ClientInfo = _NO_CLIENT,
    ) -> None:
        if properties is None:
            properties = {}
        if not isinstance(properties, dict):
            raise BadInput("properties_object must be a JSON object")
        fields, _ = bounded_properties(self.bounds, kind, properties, "properties_object")
        ticket = self._admit(secure_id, await self._session(secure_id), client, 0)
        await _within(
            ticket,
            _translate(
                self.store.add_fields(
                    secure_id, fields, now_ms(), max_fields=self.limits.max_properties_per_session
                )
            ),
        )
        self.work_queued("session")

    async def add_feedback(
        self,
        secure_id: str,
        verbatim: str,
        timestamp: datetime,
        user_name: str | None,
        user_email: str | None,
        client: ClientInfo = _NO_CLIENT,
    ) -> None:
        b = self.bounds
        feedback = Feedback(
            # A short value, not long text: feedback is stored under a unique key that
            # includes its text, and PostgreSQL indexes at most 2,704 bytes.
            b.value(verbatim),
            to_epoch_ms(timestamp),
            b.optional_value(user_name),
            b.optional_value(user_email),
        )
        ticket = self._admit(secure_id, await self._session(secure_id), client, 0)
        await _within(ticket, _translate(self.store.add_feedback(secure_id, feedback, now_ms())))
        self.work_queued("session")

    async def push_metrics(self, metrics: Sequence[Mapping[str, Any]]) -> int:
        b = self.bounds
        records = []
        for index, m in enumerate(b.items(metrics, "metrics")):
            if m is None:
                raise BadInput(f"metrics[{index}] must not be null")
            tags = b.tags(m.get("tags") or (), f"metrics[{index}].tags")
            records.append(
                Metric(
                    session_secure_id=b.secure_id(
                        m["session_secure_id"], f"metrics[{index}].session_secure_id"
                    ),
                    name=b.value(m["name"]),
                    value=float(m["value"]),
                    timestamp=to_epoch_ms(m["timestamp"]),
                    group=b.optional_value(m.get("group")),
                    category=b.optional_value(m.get("category")),
                    span_id=b.optional_value(m.get("span_id")),
                    parent_span_id=b.optional_value(m.get("parent_span_id")),
                    trace_id=b.optional_value(m.get("trace_id")),
                    tags=tuple(
                        (b.key(t["name"], f"metrics[{index}].tags"), b.value(t["value"]))
                        for t in tags
                    ),
                )
            )
        await _translate(self.store.add_metrics(records, now_ms()))
        return len(records)

    async def push_backend_errors(
        self, project_key: str | None, errors: Sequence[Mapping[str, Any]]
    ) -> None:
        b = self.bounds
        b.items(errors, "errors")
        project_id = await self.resolve_project(project_key) if project_key else None
        records = []
        for index, e in enumerate(errors):
            if e is None:
                raise BadInput(f"errors[{index}] must not be null")
            session = e.get("session_secure_id") or None
            if project_id is None and session is None:
                raise BadInput(
                    f"errors[{index}] has no session_secure_id and the request no project_id"
                )
            service = e.get("service") or {}
            records.append(
                BackendErrorReport(
                    event=b.text(e["event"]),
                    type=b.value(e["type"]),
                    url=b.value(e["url"]),
                    source=b.value(e["source"]),
                    stack_trace=b.text(e["stackTrace"]),
                    timestamp=to_epoch_ms(e["timestamp"]),
                    session_secure_id=None
                    if session is None
                    else b.secure_id(session, f"errors[{index}].session_secure_id"),
                    request_id=b.optional_value(e.get("request_id")),
                    trace_id=b.optional_value(e.get("trace_id")),
                    span_id=b.optional_value(e.get("span_id")),
                    log_cursor=b.optional_value(e.get("log_cursor")),
                    payload=b.optional_text(e.get("payload")),
                    service_name=b.optional_value(service.get("name")),
                    service_version=b.optional_value(service.get("version")),
                    environment=b.optional_value(e.get("environment")),
                )
            )
        if await _translate(self.store.add_backend_errors(project_id, records, now_ms())):
            self.work_queued("backend")

    async def mark_backend_setup(
        self, project_key: str | None, secure_id: str | None, kind: str | None
    ) -> None:
        """Record that a backend of the project (named, or the session's) is reporting; the
        `type` an old SDK sends ("errors", "logs") stands for its service name."""
        if project_key:
            project_id = await self.resolve_project(project_key)
        elif secure_id:
            project_id = (await self._session(self.bounds.secure_id(secure_id))).project
        else:
            raise BadInput("markBackendSetup needs a project_id or a session_secure_id")
        name = self.bounds.value(kind) if kind else ""
        await _translate(
            self.store.note_backend(project_id, name, now_ms(), self.limits.max_backend_services)
        )

    async def store_otlp(self, batch: OtlpBatch) -> None:
        await _translate(self.store.add_otlp_batch(batch))
        metrics.otlp_exports.labels(batch.signal).inc()
        self.work_queued("otlp")
