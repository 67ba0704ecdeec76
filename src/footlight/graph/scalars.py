"""The public graph's custom scalars, with Highlight's input rules."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from graphql import GraphQLError, value_from_ast_untyped
from graphql.language import ConstValueNode, IntValueNode, StringValueNode

from footlight.core.ids import parse_int64
from footlight.errors import BadInput, shown

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def parse_timestamp(value: Any) -> datetime:
    """An RFC 3339 string (Go's RFC3339Nano) as an aware datetime; nanoseconds truncated.

    The moment must lie within the years 0001-9999 *in UTC*, the range every later step can
    represent (epoch milliseconds, Python's datetime, the UI's dates). RFC 3339 lets an offset
    push a written year-0001 or year-9999 time outside it: `9999-12-31T23:59:59-14:00` is in
    the year 10000 in UTC, and once stored it made every page that shows it fail. Such values
    are refused, not clamped: no SDK sends them, and a clamped time would be a made-up one.
    """
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise GraphQLError(
            "Timestamp must be an RFC 3339 string like 2024-06-10T06:13:20.123Z,"
            f" got {shown(value)}"
        )
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    offset = timedelta(0)
    if not zulu:
        offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (1 if sign == "+" else -1)
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0").ljust(6, "0")[:6]),
            tzinfo=timezone(offset),
        )
    except ValueError as exc:
        raise GraphQLError(f"Timestamp {shown(value)} is not a valid date-time: {exc}") from None
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise GraphQLError(
            f"Timestamp {shown(value)} is outside the years 0001-9999 in UTC"
        ) from None
    return moment


def _serialize_timestamp(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return None if value is None else str(value)


def _timestamp_literal(node: ConstValueNode) -> datetime:
    if not isinstance(node, StringValueNode):
        raise GraphQLError("Timestamp must be a string")
    return parse_timestamp(node.value)


def _int64(scalar: str) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        try:
            return parse_int64(value, scalar)
        except BadInput as exc:
            raise GraphQLError(exc.message) from None

    return parse


def _int64_literal(scalar: str) -> Callable[[ConstValueNode], int]:
    def parse(node: ConstValueNode) -> int:
        if isinstance(node, StringValueNode):
            return _int64(scalar)(node.value)
        if isinstance(node, IntValueNode):
            return _int64(scalar)(int(node.value))
        raise GraphQLError(f"{scalar} must be an integer or a decimal string")

    return parse


def _identity(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class ScalarRules:
    """graphql-core 3.3's three coercion hooks for one scalar."""

    output: Callable[[Any], Any]
    input: Callable[[Any], Any]
    literal: Callable[[ConstValueNode], Any]


SCALARS: dict[str, ScalarRules] = {
    "Any": ScalarRules(_identity, _identity, value_from_ast_untyped),
    "Timestamp": ScalarRules(_serialize_timestamp, parse_timestamp, _timestamp_literal),
    "Int64": ScalarRules(int, _int64("Int64"), _int64_literal("Int64")),
    "Int64ID": ScalarRules(int, _int64("Int64ID"), _int64_literal("Int64ID")),
}
