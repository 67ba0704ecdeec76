"""Errors ingest reports to clients. Each carries the `extensions.code` clients see."""

from __future__ import annotations

import math


def shown(value: object, limit: int = 80) -> str:
    """`value` as a message quotes it: its repr, cut to `limit` characters, so a stranger's
    megabyte of input is not echoed back and logged whole."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class IngestError(Exception):
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
