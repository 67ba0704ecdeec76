"""How much of a stranger's text and lists one call may make footlight keep.

Every argument of the public graph that ends up in a row (and from there in a list, a page or
an export) is bounded here, before anything is written. The rule is the same for every field:

* **Counts are refused.** More keys in one properties object than `max_properties_per_call`,
  more metrics, backend errors or recording domains than `max_items_per_call`: the call is
  not the SDK's (it sends a handful), and cutting a list would store a part of it silently.
* **Names are refused.** A property key longer than `max_property_key_bytes`, or a secure id
  that is not 1 to `max_secure_id_chars` letters, digits, `-` or `_`: a cut name would be a
  different name, and ids appear in URLs, paths and logs.
* **Text is cut, and marked.** A value longer than its limit keeps its beginning and ends in
  `…[cut N bytes]`, so what was stored is still useful and visibly incomplete; the rest of
  the call is kept. Short values (property values, the identifier, session metadata, feedback,
  an error's type and URL) are bounded by `max_property_value_bytes`, long text (an error's
  message, stack trace and payload, the client config) by `max_text_bytes`.

Limits count UTF-8 bytes, not characters, because bytes are what the stores keep and index:
PostgreSQL refuses an index entry over 2,704 bytes, and properties and feedback are stored
under unique keys that include their text. 2,048 bytes of value with a 256-byte key always
fit; the SDK cuts its own values at 2,000 characters, so an ASCII value from the SDK is
never cut.

Each refusal names the setting that bounds it, e.g. `... has 300 keys, more than 256
(limit: max_properties_per_call)`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from footlight.config import Limits
from footlight.errors import BadInput, shown

T = TypeVar("T")

_SECURE_ID = re.compile(r"[A-Za-z0-9_-]+")


def cut(text: str, limit: int) -> str:
    """`text` if it fits in `limit` UTF-8 bytes, else its beginning and a marker that says how
    many bytes were cut, together at most `limit` bytes (never splitting a character)."""
    if len(text) * 4 <= limit:
        return text  # cannot exceed: no character is longer than 4 bytes
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= limit:
        return text
    # The marker's digits depend on how much is cut, which depends on the marker: assume the
    # longest count, so what is kept plus the marker never exceeds the limit.
    room = limit - len(_marker(len(encoded)).encode())
    kept = encoded[: max(room, 0)].decode("utf-8", "ignore")
    dropped = len(encoded) - len(kept.encode("utf-8", "surrogatepass"))
    return kept + _marker(dropped)


def _marker(dropped: int) -> str:
    return f"…[cut {dropped} bytes]"


def _utf8_length(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


class Bounds:
    """The limits of one server, applied to one call's arguments."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def value(self, text: str) -> str:
        """A short value: a property value, an identifier, a piece of session metadata."""
        return cut(text, self.limits.max_property_value_bytes)

    def optional_value(self, text: str | None) -> str | None:
        return None if text is None else self.value(text)

    def text(self, text: str) -> str:
        """Long text: an error's message, stack trace or payload; the client config."""
        return cut(text, self.limits.max_text_bytes)

    def optional_text(self, text: str | None) -> str | None:
        return None if text is None else self.text(text)

    def secure_id(self, secure_id: str, name: str = "session_secure_id") -> str:
        """A session's secure id as the SDKs make them (28 base62 characters), refused
        unless it is 1 to `max_secure_id_chars` letters, digits, `-` or `_`."""
        if len(secure_id) > self.limits.max_secure_id_chars:
            raise BadInput(
                f"{name} is longer than {self.limits.max_secure_id_chars} characters:"
                f" {shown(secure_id)} (limit: max_secure_id_chars)"
            )
        if not _SECURE_ID.fullmatch(secure_id):
            raise BadInput(
                f"{name} must be letters, digits, '-' and '_' only (the SDK sends 28 letters"
                f" and digits), got {shown(secure_id)}"
            )
        return secure_id

    def items(self, items: Sequence[T], name: str) -> Sequence[T]:
        """A list of one call, refused if it is longer than `max_items_per_call`."""
        if len(items) > self.limits.max_items_per_call:
            raise BadInput(
                f"{name} has {len(items)} items, more than {self.limits.max_items_per_call}"
                " (limit: max_items_per_call)"
            )
        return items

    def tags(self, tags: Sequence[T], name: str) -> Sequence[T]:
        """A metric's tags (name/value pairs), counted like a properties object's keys."""
        if len(tags) > self.limits.max_properties_per_call:
            raise BadInput(
                f"{name} has {len(tags)} tags, more than {self.limits.max_properties_per_call}"
                " (limit: max_properties_per_call)"
            )
        return tags

    def keys(self, properties: Mapping[str, Any], name: str) -> None:
        """Refuse a properties object with too many keys or a key that is too long."""
        if len(properties) > self.limits.max_properties_per_call:
            raise BadInput(
                f"{name} has {len(properties)} keys, more than"
                f" {self.limits.max_properties_per_call} (limit: max_properties_per_call)"
            )
        for key in properties:
            self.key(key, name)

    def key(self, key: str, name: str) -> str:
        limit = self.limits.max_property_key_bytes
        if len(key) > limit or _utf8_length(key) > limit:
            raise BadInput(
                f"{name} has a key longer than {limit} bytes: {shown(key)}"
                " (limit: max_property_key_bytes)"
            )
        return key
