"""Errors ingest reports to clients. Each carries the `extensions.code` clients see."""

from __future__ import annotations


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
