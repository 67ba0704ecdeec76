"""Error grouping: one fingerprint for every occurrence of the same error.

Two occurrences belong to the same error group when their fingerprints are equal. The recipe:

1. **Message.** `error_message(event)` turns the SDK's `event` field into the human message
   (the SDK often sends it JSON-encoded, see that function). `normalize_message` then
   replaces what varies between occurrences of one error, in this order:

   a. the query string of every URL (``scheme://...``, a scheme of at most 32 characters),
      from ``?`` up to ``#`` or the URL's end (whitespace, a quote, ``<``, ``>``, ``(`` or
      ``)``), becomes ``?<query>``;
   b. every quoted string, ``'...'`` or ``"..."`` on one line whose opening quote does not
      follow a letter or digit (so the apostrophe in "can't" is not a quote), becomes
      ``<str>``;
   c. every UUID (8-4-4-4-12 hex digits) becomes ``<uuid>``;
   d. every ``0x``-prefixed hex number, and every standalone run of at least 8 hex digits
      holding both a digit and a letter a-f, becomes ``<hex>``;
   e. every standalone number (digits, optionally with ``.digits`` parts, as in 3.14 or
      1.2.3) becomes ``<n>``; "standalone" means not preceded by a letter, digit,
      underscore or dot and not followed by a letter, digit or underscore, so "v2",
      "v1.2.3", "10px", "3.14s" and "item_3" stay;
   f. runs of whitespace become one space, and the ends are trimmed.

2. **Frames.** The first `top` (default 3) frames of the stack trace that have a file name,
   innermost first as the SDK sends them. Each frame contributes

   * its file path: the file name without ``scheme://host`` in front and without the
     ``?query`` and ``#fragment`` after it, with UUIDs and hex runs replaced as in 1c-1d
     (so ``https://app.example/static/js/main.8f3a9c1e.js?v=2`` becomes
     ``/static/js/main.<hex>.js``), and
   * its function name ("" when unknown).

   Line and column numbers are left out on purpose: any change to a bundle moves them, so
   with them every deploy would open a new group for every existing error. The host is
   left out so that one app served from several hosts (staging, production, a CDN) groups
   together, and content hashes in bundle names for the same reason as line numbers.

3. **Digest.** The value ``[type, normalized message, [[path, function], ...]]`` is
   serialised as JSON by Python's ``json.dumps(value, separators=(",", ":"))`` (so non-ASCII
   characters are ``\\uXXXX`` escapes and the bytes are ASCII); the fingerprint is the
   BLAKE2b digest of those bytes with an 8-byte digest size, as 16 lowercase hex
   characters.

Highlight grouped by exact `event` text or by a score over the top five frames including
line and column (see the contract, section 4.5); this recipe is simpler and stable across
deploys, at the cost of merging errors that differ only in a quoted value or a number (the
type and the stack usually still tell those apart).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence

import msgspec

from footlight.core.records import StackFrame

# URL characters stop at whitespace, quotes, angle brackets and parentheses: in a message a
# URL is usually delimited by one of them, and they are rare inside real URLs. Every URL
# matches, with or without a query, so that the scan goes on after it: a URL that must
# have a query to match is rescanned to its end from each later "x://" inside it. The
# scheme's length is bounded (real ones are short) for the same reason: a long run of scheme
# characters without "://" would be rescanned from each of its positions.
_URL = re.compile(r"""(\b[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s?#'"<>()]*+)(\?[^\s#'"<>()]*+)?""")
_QUOTED = re.compile(r"""(?<![A-Za-z0-9])(?:'[^'\n]*'|"[^"\n]*")""")
_UUID = re.compile(
    r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE
)
_HEX = re.compile(
    r"\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.IGNORECASE
)
# Possessive quantifiers: "3.14s" must not backtrack into replacing just its "3".
_NUMBER = re.compile(r"(?<![\w.])\d++(?:\.\d++)*+(?!\w)")
_WHITESPACE = re.compile(r"\s+")
_SCHEME_HOST = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")
_QUERY_OR_FRAGMENT = re.compile(r"[?#].*", re.DOTALL)


def error_message(event: str) -> str:
    """The human message of an error's `event` field as the SDK sends it.

    * A JSON array, as console.error sends its arguments: the string items as they are and
      every other item as JSON, joined by spaces (`'["failed", 404]'` → ``failed 404``).
    * A JSON string (window.onerror sends `'"Uncaught TypeError: x is undefined"'`): the
      string.
    * Anything else (plain text, or JSON of another kind such as a bare number or an
      object): `event` unchanged.
    """
    try:
        value = msgspec.json.decode(event)
    except (msgspec.DecodeError, RecursionError):
        return event
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(
            item if isinstance(item, str) else msgspec.json.encode(item).decode() for item in value
        )
    return event


def normalize_message(message: str) -> str:
    """`message` with its volatile parts replaced by placeholders (recipe step 1)."""
    text = _URL.sub(_without_query, message)
    text = _QUOTED.sub("<str>", text)
    text = _replace_ids(text)
    text = _NUMBER.sub("<n>", text)
    return _WHITESPACE.sub(" ", text).strip()


def fingerprint(type_: str, message: str, frames: Sequence[StackFrame], top: int = 3) -> str:
    """The error-group fingerprint (16 hex characters) by the module's recipe.

    `message` is the human message (`error_message` of the SDK's `event`); it is normalised
    here. `frames` are innermost first.
    """
    named = [frame for frame in frames if frame.file_name][: max(top, 0)]
    value = [
        type_,
        normalize_message(message),
        [[_frame_path(frame.file_name or ""), frame.function_name or ""] for frame in named],
    ]
    data = json.dumps(value, separators=(",", ":")).encode("ascii")
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def _without_query(url: re.Match[str]) -> str:
    return url[0] if url[2] is None else f"{url[1]}?<query>"


def _replace_ids(text: str) -> str:
    # UUIDs first: their groups would otherwise be taken for hex runs and numbers.
    return _HEX.sub("<hex>", _UUID.sub("<uuid>", text))


def _frame_path(file_name: str) -> str:
    path = _QUERY_OR_FRAGMENT.sub("", _SCHEME_HOST.sub("", file_name))
    return _replace_ids(path)
