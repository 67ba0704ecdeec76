"""Ids as clients send them: project verbose ids, and 64-bit integer ids in any spelling.

Highlight-compatible project "verbose ids":
Highlight shows each project as a hashid (empty salt, min length 8, alphabet a-z0-9), so
project 1 is `1jdkoe52` on every Highlight install and here too. The SDK sends that string
(or the plain number) as `organization_verbose_id`; both resolve to the numeric id.
"""

from __future__ import annotations

import re
from typing import Any

from hashids import Hashids

from footlight.errors import BadInput, shown

_HASHIDS = Hashids(salt="", min_length=8, alphabet="abcdefghijklmnopqrstuvwxyz1234567890")
# Go's strconv.Atoi: an optional sign and decimal digits, nothing else (no spaces, no "_").
_DECIMAL = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# The hashid of the largest 64-bit id has 15 characters. Decoding is quadratic in the
# length, so a longer string is refused before it can hold the event loop for minutes.
_MAX_HASHID_CHARS = 24


def encode_project(project_id: int) -> str:
    return str(_HASHIDS.encode(project_id)) or str(project_id)


def decode_project(verbose_id: str) -> int | None:
    """The project id a verbose id names, or None if it is neither a number nor a hashid of one."""
    if _DECIMAL.fullmatch(verbose_id):
        value = int(verbose_id)
        return value if abs(value) <= _INT64_MAX else None
    if len(verbose_id) > _MAX_HASHID_CHARS:
        return None
    numbers = _HASHIDS.decode(verbose_id)
    return int(numbers[0]) if len(numbers) == 1 else None


def parse_int64(value: Any, name: str) -> int:
    """A 64-bit integer sent as a number or a decimal string (Go's json.Number rules).

    Payload ids are one: older SDKs count 0, 1, 2... per tab, newer ones send epoch ms.
    """
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and _DECIMAL.fullmatch(value)
    ):
        number = int(value)
    if number is None:
        raise BadInput(f"{name} must be an integer or a decimal string, got {shown(value)}")
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise BadInput(f"{name} is outside the 64-bit integer range: {shown(value)}")
    return number
