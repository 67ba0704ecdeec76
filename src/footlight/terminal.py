"""Strangers' text on an operator's terminal: control characters shown, never obeyed.

What a client sends reaches the server's log (the operation name and message of a refused
request, a secure id in a processing warning, the text of an exception), and `footlight
serve` writes its log to the operator's terminal. A terminal obeys control characters: an
escape sequence can recolour or retitle it, move the cursor and overwrite lines already shown,
and on some terminals make it answer with input; a newline or carriage return forges whole
log lines; Unicode bidi controls reorder what is displayed. So:

* every log record footlight's process writes has those characters replaced by visible
  escapes (`\\x1b`, `\\n`, `\\u202e`), in its message and its traceback, whoever logged it
  (`install`, at start-up);
* `footlight export` writing to a terminal escapes them the JSON way (`\\u009b`), which
  leaves the JSON meaning the same (`json_for_terminal`). C0 characters cannot be in stored
  JSON at all: the JSON decoder refuses them unescaped.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# C1 (CSI is \x9b), DEL, and the bidi marks, embeddings and isolates; C0 comes apart because
# tracebacks keep their own line breaks.
_OTHER_CONTROLS = r"\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(rf"[\x00-\x1f{_OTHER_CONTROLS}]")
_CONTROL_BUT_NEWLINE = re.compile(rf"[\x00-\x09\x0b-\x1f{_OTHER_CONTROLS}]")


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: str) -> str:
    """`text` with every control character written as an escape."""
    return _CONTROL.sub(_escape, text)


def visible_lines(text: str) -> str:
    """`text` with control characters escaped, but its own line breaks kept (tracebacks)."""
    return _CONTROL_BUT_NEWLINE.sub(_escape, text)


_formatter = logging.Formatter()
_UNTOUCHED = frozenset({"uvicorn.access"})
"""Loggers whose formatter reads the record's arguments (the access log, which is off)."""


def _neutralise(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken call is logging's to report, as it always does
        return
    record.msg, record.args = visible(message), None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = visible_lines(_formatter.formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = visible_lines(record.stack_info)


def install() -> None:
    """Make every log record of this process safe for a terminal, whatever its handler."""
    current = logging.getLogRecordFactory()
    if getattr(current, "footlight_visible", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        if record.name not in _UNTOUCHED:
            _neutralise(record)
        return record

    factory.footlight_visible = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_JSON_CONTROL = re.compile(
    rb"\x7f|\xc2[\x80-\x9f]|\xd8\x9c|\xe2\x80[\x8e\x8f\xaa-\xae]|\xe2\x81[\xa6-\xa9]"
)


def _json_escape(match: re.Match[bytes]) -> bytes:
    return f"\\u{ord(match.group().decode()):04x}".encode()


def json_for_terminal(chunk: bytes) -> bytes:
    """UTF-8 JSON with DEL, C1 and bidi controls (legal inside JSON strings) escaped."""
    return _JSON_CONTROL.sub(_json_escape, chunk)
