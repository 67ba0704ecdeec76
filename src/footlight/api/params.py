"""Query parameters shared by the read API and the UI: parsing, bounds, keyset cursors.

Every function raises `BadParameter` (footlight.errors) with a message that names the
parameter, which the API turns into a 400 and the UI shows above the list it could not
filter. A NUL character is
refused in every parameter: SQLite's LIKE stops at it (`user=%00` matched every session)
and PostgreSQL cannot hold it, so both engines answer the same 400.

Lists page with keyset cursors: the opaque `cursor` is the key of the previous page's last
row, so a page costs the same however deep it is, and rows stored meanwhile neither repeat
nor go missing.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.requests import Request

from footlight.api.auth import check_project, readable_projects
from footlight.core.ids import decode_project
from footlight.errors import BadParameter
from footlight.store.base import (
    ApiToken,
    ErrorGroupView,
    LogQuery,
    LogView,
    SessionField,
    SessionQuery,
    SessionView,
    TimelineKey,
)

MAX_LIMIT = 200
# Every integer a client may send (times, ids, counts) fits in a JSON-safe integer; larger
# ones would overflow SQLite's 64-bit integers (a 500) instead of getting a 400.
MAX_INT = 2**53
_encode = msgspec.json.Encoder().encode


def param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is not None and "\x00" in value:
        raise BadParameter(f"{name} must not contain a NUL character")
    return value if value not in (None, "") else None


def time_param(request: Request, name: str, *, naive_is_utc: bool = False) -> int | None:
    """Epoch milliseconds, or an ISO 8601 time with a zone; one without a zone (what a
    browser's datetime-local field sends) is an error unless `naive_is_utc`."""
    value = param(request, name)
    if value is None:
        return None
    digits = value.removeprefix("-")
    if digits.isascii() and digits.isdigit():
        return _bounded(name, int(value))
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadParameter(f"{name} must be epoch milliseconds or an ISO 8601 time") from None
    if moment.tzinfo is None and naive_is_utc:
        moment = moment.replace(tzinfo=UTC)
    elif moment.tzinfo is None:
        raise BadParameter(f"{name} needs a time zone, e.g. 2026-11-26T10:00:00Z")
    return int(moment.timestamp() * 1000)


def _bounded(name: str, number: int) -> int:
    if abs(number) > MAX_INT:
        raise BadParameter(f"{name} is out of range")
    return number


def int_param(request: Request, name: str) -> int | None:
    value = param(request, name)
    if value is None:
        return None
    try:
        return _bounded(name, int(value))
    except ValueError:
        raise BadParameter(f"{name} must be an integer") from None


def bool_param(request: Request, name: str) -> bool | None:
    value = param(request, name)
    if value is None:
        return None
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise BadParameter(f"{name} must be true or false")


def limit_param(request: Request, default: int = 50) -> int:
    limit = int_param(request, "limit")
    if limit is None:
        return default
    if not 1 <= limit <= MAX_LIMIT:
        raise BadParameter(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def encode_cursor(*parts: int | float | str) -> str:
    return base64.urlsafe_b64encode(_encode(list(parts))).decode().rstrip("=")


def decode_cursor(request: Request, *shape: type, name: str = "cursor") -> list[Any] | None:
    """The parts of the `name` parameter (`cursor`), which must be a list of values of
    `shape`'s types (`float` stands for a stored time: any number)."""
    value = param(request, name)
    if value is None:
        return None
    bad = BadParameter(f"{name} is not a cursor this API returned")
    try:
        decoded = msgspec.json.decode(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise bad from None
    if not isinstance(decoded, list) or len(decoded) != len(shape):
        raise bad
    for part, kind in zip(decoded, shape, strict=True):
        if kind is float:
            # A stored time: whole or fractional as its column holds it, any 64-bit value
            # (a stranger's timestamps can be anything, and paging must get past them).
            if not isinstance(part, int | float) or type(part) is bool:
                raise bad
            if not -(2**63) <= part < 2**63:
                raise bad
        elif type(part) is not kind or (isinstance(part, int) and abs(part) > MAX_INT):
            raise bad
    return decoded


def timeline_after(request: Request) -> TimelineKey | None:
    """A session timeline's keyset cursor: (time, id) of the previous page's last row."""
    cursor = decode_cursor(request, float, int)
    return (cursor[0], cursor[1]) if cursor else None


def timeline_cursor(after: TimelineKey | None) -> str | None:
    return None if after is None else encode_cursor(after[0], after[1])


def network_after(request: Request) -> tuple[TimelineKey | None, TimelineKey | None, bool, bool]:
    """The network route's cursor: where its two lists (requests, websocket events) go on,
    and whether each is done. A list that is done stays empty on the pages that follow."""
    cursor = decode_cursor(request, int, float, int, int, float, int)
    if cursor is None:
        return None, None, False, False
    requests_done, websocket_done = cursor[0] == 1, cursor[3] == 1
    return (
        None if requests_done else (cursor[1], cursor[2]),
        None if websocket_done else (cursor[4], cursor[5]),
        requests_done,
        websocket_done,
    )


def network_cursor(
    requests_after: TimelineKey | None, websocket_after: TimelineKey | None
) -> str | None:
    """The cursor of the next network page; None once both lists are done."""
    if requests_after is None and websocket_after is None:
        return None
    parts: list[int | float] = []
    for after in (requests_after, websocket_after):
        parts += [1, 0.0, 0] if after is None else [0, after[0], after[1]]
    return encode_cursor(*parts)


def fields_after(request: Request) -> tuple[str, str, str] | None:
    """The property list's cursor: (kind, key, value) of the previous page's last field."""
    cursor = decode_cursor(request, str, str, str)
    return (cursor[0], cursor[1], cursor[2]) if cursor else None


def fields_cursor(fields: Sequence[SessionField], more: bool) -> str | None:
    if not more or not fields:
        return None
    last = fields[-1]
    return encode_cursor(last.kind, last.key, last.value)


def projects_param(request: Request, token: ApiToken) -> tuple[int, ...] | None:
    """The `project` filter (numeric or verbose id), checked against the token (HTTPError 403)."""
    value = param(request, "project")
    if value is None:
        return readable_projects(token)
    project_id = decode_project(value)
    if project_id is None:
        raise BadParameter(f"project {value!r} is not a project id")
    check_project(token, project_id)
    return (project_id,)


def session_query(
    request: Request, token: ApiToken, limit: int, *, naive_is_utc: bool = False
) -> SessionQuery:
    """The session-list filters: project, from, to, user, has_errors, url, environment,
    min_active_seconds and cursor."""
    cursor = decode_cursor(request, int, int)
    min_active = int_param(request, "min_active_seconds")
    return SessionQuery(
        project_ids=projects_param(request, token),
        started_after=time_param(request, "from", naive_is_utc=naive_is_utc),
        started_before=time_param(request, "to", naive_is_utc=naive_is_utc),
        user=param(request, "user"),
        has_errors=bool_param(request, "has_errors"),
        url_contains=param(request, "url"),
        environment=param(request, "environment"),
        min_active_ms=None if min_active is None else min_active * 1000,
        after=(cursor[0], cursor[1]) if cursor else None,
        limit=limit,
    )


LOG_LEVELS = ("trace", "debug", "info", "warn", "error", "fatal", "log")


def log_query(
    request: Request, token: ApiToken, limit: int, *, naive_is_utc: bool = False
) -> LogQuery:
    """The log-list filters: project, session, service, level, q (text), from, to, cursor."""
    cursor = decode_cursor(request, int, int)
    level = param(request, "level")
    if level is not None and level.lower() not in LOG_LEVELS:
        raise BadParameter(f"level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    return LogQuery(
        project_ids=projects_param(request, token),
        session_secure_id=param(request, "session"),
        service_name=param(request, "service"),
        level=None if level is None else level.lower(),
        text=param(request, "q"),
        after=time_param(request, "from", naive_is_utc=naive_is_utc),
        before=time_param(request, "to", naive_is_utc=naive_is_utc),
        cursor=(cursor[0], cursor[1]) if cursor else None,
        limit=limit,
    )


def log_cursor(logs: Sequence[LogView], limit: int) -> str | None:
    """The cursor of the page after `logs`, if it was a full page."""
    if len(logs) < limit:
        return None
    return encode_cursor(logs[-1].entry.timestamp, logs[-1].id)


def session_cursor(sessions: Sequence[SessionView], limit: int) -> str | None:
    """The cursor of the page after `sessions`, if it was a full page."""
    if len(sessions) < limit:
        return None
    return encode_cursor(sessions[-1].created_at, sessions[-1].id)


def error_group_after(request: Request) -> tuple[int, int, str] | None:
    """The error-group list's keyset cursor: (last_seen, project_id, fingerprint)."""
    cursor = decode_cursor(request, int, int, str)
    return (cursor[0], cursor[1], cursor[2]) if cursor else None


def error_group_cursor(groups: Sequence[ErrorGroupView], limit: int) -> str | None:
    """The cursor of the page after `groups`, if it was a full page."""
    if len(groups) < limit:
        return None
    last = groups[-1]
    return encode_cursor(last.last_seen, last.project_id, last.fingerprint)
