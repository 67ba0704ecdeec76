"""Every error footlight raises on purpose, in one hierarchy (as httpx keeps its own).

    FootlightError
    ├── ConfigError              a setting has a value footlight cannot use (a ValueError too)
    ├── IngestError              a request was refused and nothing was written
    │   ├── BadInput
    │   │   └── OtlpDecodeError      an OTLP export that cannot be decoded
    │   │       └── OtlpPayloadTooLarge
    │   ├── PayloadTooLarge
    │   ├── NotFound
    │   ├── Forbidden
    │   ├── RequestError         a GraphQL request that cannot be executed at all
    │   └── Refused              a limit said no (HTTP 429); may pass after `retry_after`
    │       ├── RateLimited
    │       └── QuotaExceeded
    ├── HTTPError                answer with this status: the one problem type of the edge,
    │   │                        the read API and the UI, each of which renders it its way
    │   └── BadParameter         a query parameter of the read API or the UI is malformed
    ├── StoreError               the store refused a write the client must hear about
    │   ├── UnknownSession
    │   ├── SessionOfAnotherProject
    │   ├── TooManyFields
    │   ├── UnknownProject
    │   └── SessionFull
    ├── StoreUnavailable         the store cannot take work now (down, disk full): 503
    │   ├── ReadTimeout
    │   └── LowDisk              new sessions wait while the store's disk is nearly full
    ├── LeaseLost                a processing job was taken over; this run drops it
    ├── GrpcBindError            the OTLP/gRPC port could not be listened on
    └── FetchRefused             asset capture did not fetch a URL: policy said no, or the
                                 network failed (defined beside the fetcher, processing.fetch)

An `IngestError`'s `code` is what clients see as the GraphQL error's `extensions.code` (and
in OTLP/HTTP error bodies); its `message` says exactly why, quoting input through `shown`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Only named: importing graphql-core costs ~0.2 s, which every `footlight` command would
    # pay for this module.
    from graphql import GraphQLError


def shown(value: object, limit: int = 80) -> str:
    """`value` as a message quotes it: its repr, cut to `limit` characters, so a stranger's
    megabyte of input is not echoed back and logged whole."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class FootlightError(Exception):
    """The root of every error footlight raises on purpose."""


class ConfigError(FootlightError, ValueError):
    """A setting has a value footlight cannot use; the message names the setting."""


# -- refusing a client's request -------------------------------------------------------------


class IngestError(FootlightError):
    """A request was refused and nothing was written; `message` says exactly why."""

    code = "BAD_USER_INPUT"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(IngestError):
    code = "BAD_USER_INPUT"


class PayloadTooLarge(IngestError):
    code = "PAYLOAD_TOO_LARGE"


class NotFound(IngestError):
    code = "NOT_FOUND"


class Forbidden(IngestError):
    code = "FORBIDDEN"


class OtlpDecodeError(BadInput):
    """An OTLP export could not be decoded; `message` says exactly what and where."""


class OtlpPayloadTooLarge(OtlpDecodeError):
    """An OTLP body is larger, or inflates larger, than the limit it is decoded with."""

    code = "PAYLOAD_TOO_LARGE"


class RequestError(IngestError):
    """The GraphQL request cannot be executed at all (unparsable, invalid, refused by a
    document limit); `code` goes to `extensions.code`, `status` overrides the HTTP status.
    `errors` are graphql-core's own, when it found them; none: the message is the one error."""

    def __init__(
        self,
        message: str,
        code: str,
        errors: tuple[GraphQLError, ...] = (),
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.errors = errors
        self.status = status


class Refused(IngestError):
    """A limit refused the request (HTTP 429); it may pass after `retry_after` seconds.

    `limit` names the setting that refused it. `extensions` is what the client sees besides
    `code` in the GraphQL error.
    """

    def __init__(self, message: str, limit: str, retry_after: float) -> None:
        super().__init__(message)
        self.limit = limit
        self.retry_after = retry_after

    @property
    def retry_after_seconds(self) -> int:
        """For the `Retry-After` header: whole seconds, at least 1 (OTLP exporters read 0 as
        "do not wait", which would only be refused again)."""
        return max(1, math.ceil(self.retry_after))

    @property
    def extensions(self) -> dict[str, object]:
        return {"limit": self.limit, "retry_after": self.retry_after_seconds}


class RateLimited(Refused):
    """A short-term rate is exceeded: the client should send it again after a while (the
    browser SDK retries after 1.5, 2 and 3 s)."""

    code = "RATE_LIMITED"


class QuotaExceeded(Refused):
    """A limit that will not clear for hours (a daily quota, a full session).

    The message is `BillingQuotaExceeded`, the one GraphQL error the browser SDK does not
    retry: it drops the payload instead of sending it four times. The explanation is in
    `detail`.
    """

    code = "QUOTA_EXCEEDED"
    SDK_MESSAGE = "BillingQuotaExceeded"

    def __init__(self, detail: str, limit: str, retry_after: float) -> None:
        super().__init__(self.SDK_MESSAGE, limit, retry_after)
        self.detail = detail

    @property
    def extensions(self) -> dict[str, object]:
        return {**super().extensions, "detail": self.detail}


# -- answering over HTTP ---------------------------------------------------------------------


class HTTPError(FootlightError):
    """Answer the request with `status`; `code` and `message` say why.

    The ingest edge writes it as a GraphQL-shaped error body, the read API as its JSON
    error object, the UI as an error page.
    """

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        headers: Iterable[tuple[str, str]] = (),
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = list(headers)
        self.extensions = dict(extensions or {})


class BadParameter(HTTPError):
    """A query parameter is malformed (400); the message names the parameter."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message, "BAD_REQUEST")


# -- the store -------------------------------------------------------------------------------


class StoreError(FootlightError):
    """A write was refused for a reason the client must hear about; nothing was written."""


class UnknownSession(StoreError):
    def __init__(self, secure_id: str) -> None:
        super().__init__(f"no session with secure id {secure_id!r}; call initializeSession first")
        self.secure_id = secure_id


class SessionOfAnotherProject(StoreError):
    def __init__(self, secure_id: str, project_id: int) -> None:
        super().__init__(f"session {secure_id!r} belongs to another project than {project_id}")
        self.secure_id = secure_id


class TooManyFields(StoreError):
    def __init__(self, secure_id: str, limit: int) -> None:
        super().__init__(
            f"session {secure_id!r} would have more than {limit} user, session and track"
            " properties (limit: max_properties_per_session)"
        )
        self.secure_id = secure_id


class UnknownProject(StoreError):
    def __init__(self, project_id: int) -> None:
        super().__init__(f"no project with id {project_id}")
        self.project_id = project_id


class SessionFull(StoreError):
    """A payload would take its session past the size cap; nothing was written."""

    def __init__(self, secure_id: str, stored_bytes: int, size: int, limit: int) -> None:
        super().__init__(
            f"session {secure_id!r} stores {stored_bytes} bytes; {size} more would pass"
            f" {limit} (limit: max_session_bytes)"
        )
        self.secure_id = secure_id
        self.stored_bytes = stored_bytes
        self.size = size
        self.limit = limit


class StoreUnavailable(FootlightError):
    """The backend cannot take writes right now (disk full, database down); try again later."""


class ReadTimeout(StoreUnavailable):
    """An operator read (read API, UI) ran past `read_timeout_seconds` and was stopped."""


# -- processing and serving ------------------------------------------------------------------


class LowDisk(StoreUnavailable):
    """The file system holding the store has less free space than FOOTLIGHT_MIN_FREE_DISK_BYTES:
    new sessions are refused (503, retried by the SDK) so that those recording keep room."""

    code = "LOW_DISK"


class LeaseLost(FootlightError):
    """Another processing run took a job over (ours outlived its lease); ours is dropped."""


class GrpcBindError(FootlightError):
    """The OTLP/gRPC port could not be listened on."""
