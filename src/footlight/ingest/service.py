"""What each public-graph operation means, between the protocol and the store.

Highlight's resolvers only enqueued; a worker later created sessions and read payloads, and
dropped silently whatever it could not use. Here the work that decides *whether* data can be
kept happens before the answer: the project is resolved, the session looked up, the payload
inflated and validated, and the write committed. A success therefore means stored, and a
refusal reaches the client as an error that names the problem, with nothing written.

CPU-heavy decoding of large payloads runs on a worker thread, so one big FullSnapshot does
not stall every other request on the event loop.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import string
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import msgspec

from footlight.config import Limits
from footlight.ingest import payload as payloads
from footlight.ingest.errors import BadInput, Forbidden, NotFound, shown
from footlight.ingest.ids import decode_project, parse_int64
from footlight.ingest.offload import run_sized
from footlight.store import (
    BackendError,
    Feedback,
    FieldKind,
    IncomingPayload,
    Metric,
    NewSession,
    OtlpBatch,
    PayloadSource,
    Session,
    SessionField,
    SessionOfAnotherProject,
    Store,
    StoreError,
    UnknownProject,
    UnknownSession,
)

T = TypeVar("T")

_SECURE_ID_ALPHABET = string.ascii_letters + string.digits
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def now_ms() -> int:
    return int(time.time() * 1000)


def new_secure_id() -> str:
    """A 28-character base62 id, like the SDK's own."""
    return "".join(secrets.choice(_SECURE_ID_ALPHABET) for _ in range(28))


def field_value(value: Any) -> str:
    """How a property value is kept: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode()


def properties_to_fields(kind: FieldKind, properties: Mapping[str, Any]) -> list[SessionField]:
    return [
        SessionField(kind, str(key), text)
        for key, value in properties.items()
        if value is not None and (text := field_value(value)) != ""
    ]


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


@dataclass(frozen=True)
class ClientInfo:
    """What the HTTP request says about the browser, kept with a new session."""

    user_agent: str | None = None
    accept_language: str | None = None


class Ingestor:
    def __init__(self, store: Store, limits: Limits) -> None:
        self.store = store
        self.limits = limits

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
            return secure_id
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
        project_id = await self.resolve_project(project_key)
        if secure_id is not None and not secure_id.strip():
            raise BadInput("session_secure_id must not be empty")
        new = NewSession(
            secure_id=secure_id or new_secure_id(),
            project_id=project_id,
            created_at=now_ms(),
            user_agent=client.user_agent,
            accept_language=client.accept_language,
            **details,
        )
        return await _translate(self.store.initialize_session(new))

    async def push_compressed(self, secure_id: str, payload_id: Any, data: str) -> None:
        number = parse_int64(payload_id, "payload_id")
        decoded = await run_sized(
            len(data),
            True,
            payloads.decode_compressed,
            data,
            self.limits.max_inflated_bytes,
            self.limits.max_events_per_payload,
        )
        await self._append(secure_id, number, "compressed", decoded)

    async def push_legacy(self, secure_id: str, arguments: Mapping[str, Any]) -> int:
        raw_id = arguments.get("payload_id")
        number = 0 if raw_id is None else parse_int64(raw_id, "payload_id")
        # Always off the loop: the events (the bulk) are parsed objects whose size is not
        # known here, and only SDKs from before 2022 use this path.
        decoded = await asyncio.to_thread(
            payloads.encode_legacy, arguments, self.limits.max_events_per_payload
        )
        await self._append(secure_id, number, "legacy", decoded)
        return decoded.summary.event_count

    async def _append(
        self,
        secure_id: str,
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
        await _translate(self.store.append_payload(secure_id, incoming))

    async def identify(self, secure_id: str, identifier: str, user_object: Any) -> None:
        if user_object is not None and not isinstance(user_object, dict):
            raise BadInput("user_object must be a JSON object")
        user_object = user_object or {}
        fields: list[SessionField] = []
        if identifier:
            fields.append(SessionField("user", "identifier", identifier))
            if _EMAIL.fullmatch(identifier):
                fields.append(SessionField("user", "email", identifier))
        fields.extend(properties_to_fields("user", user_object))
        encoded = msgspec.json.encode(user_object).decode() if user_object else None
        await _translate(self.store.identify(secure_id, identifier, encoded, fields, now_ms()))

    async def add_properties(self, secure_id: str, kind: FieldKind, properties: Any) -> None:
        if properties is None:
            properties = {}
        if not isinstance(properties, dict):
            raise BadInput("properties_object must be a JSON object")
        fields = properties_to_fields(kind, properties)
        await _translate(self.store.add_fields(secure_id, fields, now_ms()))

    async def add_feedback(
        self,
        secure_id: str,
        verbatim: str,
        timestamp: datetime,
        user_name: str | None,
        user_email: str | None,
    ) -> None:
        feedback = Feedback(verbatim, to_epoch_ms(timestamp), user_name, user_email)
        await _translate(self.store.add_feedback(secure_id, feedback, now_ms()))

    async def push_metrics(self, metrics: Sequence[Mapping[str, Any]]) -> int:
        records = []
        for index, m in enumerate(metrics):
            if m is None:
                raise BadInput(f"metrics[{index}] must not be null")
            records.append(
                Metric(
                    session_secure_id=m["session_secure_id"],
                    name=m["name"],
                    value=float(m["value"]),
                    timestamp=to_epoch_ms(m["timestamp"]),
                    group=m.get("group"),
                    category=m.get("category"),
                    span_id=m.get("span_id"),
                    parent_span_id=m.get("parent_span_id"),
                    trace_id=m.get("trace_id"),
                    tags=tuple((t["name"], t["value"]) for t in m.get("tags") or ()),
                )
            )
        await _translate(self.store.add_metrics(records, now_ms()))
        return len(records)

    async def push_backend_errors(
        self, project_key: str | None, errors: Sequence[Mapping[str, Any]]
    ) -> None:
        project_id = await self.resolve_project(project_key) if project_key else None
        records = []
        for index, e in enumerate(errors):
            if e is None:
                raise BadInput(f"errors[{index}] must not be null")
            if project_id is None and not e.get("session_secure_id"):
                raise BadInput(
                    f"errors[{index}] has no session_secure_id and the request no project_id"
                )
            service = e.get("service") or {}
            records.append(
                BackendError(
                    event=e["event"],
                    type=e["type"],
                    url=e["url"],
                    source=e["source"],
                    stack_trace=e["stackTrace"],
                    timestamp=to_epoch_ms(e["timestamp"]),
                    session_secure_id=e.get("session_secure_id") or None,
                    request_id=e.get("request_id"),
                    trace_id=e.get("trace_id"),
                    span_id=e.get("span_id"),
                    log_cursor=e.get("log_cursor"),
                    payload=e.get("payload"),
                    service_name=service.get("name"),
                    service_version=service.get("version"),
                    environment=e.get("environment"),
                )
            )
        await _translate(self.store.add_backend_errors(project_id, records, now_ms()))

    async def store_otlp(self, batch: OtlpBatch) -> None:
        await _translate(self.store.add_otlp_batch(batch))
