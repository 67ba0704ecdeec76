"""Stack frames from the stack traces SDKs send as text (JavaScript engines' and Python's).

OTLP carries a stack trace as one string (`exception.stacktrace`); the replay payload's
errors come with frames already parsed, so only OTLP items need this.
"""

from __future__ import annotations

import re

import msgspec

from footlight.core.payload import JSON_DECODE_ERRORS
from footlight.core.records import StackFrame

# "fn@file:line:col" (Firefox, Safari); fn may be empty.
_AT_FRAME = re.compile(r"^(?P<fn>[^@]*)@(?P<loc>.+)$")
_LOCATION = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::(?P<col>\d+))?$")


# Python: '  File "/app/views.py", line 12, in checkout', then the line of code.
_PYTHON_TRACEBACK = "Traceback (most recent call last):"
_PYTHON_FRAME = re.compile(r'^File "(?P<file>[^"]*)", line (?P<line>\d+)(?:, in (?P<fn>.+))?$')


def parse_stacktrace(text: str) -> tuple[StackFrame, ...]:
    """Stack frames from a JavaScript (or Python) stack trace, innermost first.

    Understands V8's "    at fn (https://x/app.js:10:5)" lines, Firefox/Safari's
    "fn@https://x/app.js:10:5" lines, and the JSON array of frame strings
    ("fn (https://x/app.js:10:5)") the SDK's error listener puts in `exception.stacktrace`
    for errors it caught itself. Lines that are not frames (the "TypeError: ..." header, a
    multi-line message) are skipped; a frame line whose location cannot be read is kept
    with only its `source`, the line as written.
    """
    if _PYTHON_TRACEBACK in text:
        return _python_frames(text)
    listed = _json_frames(text)
    lines = listed if listed is not None else text.splitlines()
    frames = []
    for raw in lines:
        line = raw.strip()
        if line.startswith("at "):
            frames.append(_paren_frame(line[3:].strip(), line))
        elif (at := _AT_FRAME.match(line)) and _LOCATION.match(at["loc"]):
            frames.append(_located(at["fn"], at["loc"], line))
        elif listed is not None and line:
            frames.append(_paren_frame(line, line))
    return tuple(frames)


def _python_frames(text: str) -> tuple[StackFrame, ...]:
    """The frames of a Python traceback (`traceback.format_exception`, what backend SDKs
    put in `exception.stacktrace`), innermost first as in JavaScript's. Of chained
    exceptions ("During handling of the above exception ...") the last is the one raised."""
    last = text[text.rindex(_PYTHON_TRACEBACK) + len(_PYTHON_TRACEBACK) :]
    frames = []
    for raw in last.splitlines():
        match = _PYTHON_FRAME.match(raw.strip())
        if match is not None:
            frames.append(
                StackFrame(
                    file_name=match["file"],
                    function_name=match["fn"],
                    line_number=int(match["line"]),
                    source=raw.strip(),
                )
            )
    frames.reverse()
    return tuple(frames)


def _json_frames(text: str) -> list[str] | None:
    if not text.lstrip().startswith("["):
        return None
    try:
        value = msgspec.json.decode(text)
    except JSON_DECODE_ERRORS:
        return None
    if not isinstance(value, list):
        return None
    return [item for item in value if isinstance(item, str)]


def _paren_frame(body: str, line: str) -> StackFrame:
    """A frame written "fn (file:line:col)" or "file:line:col", as V8 writes after "at " and
    as the SDK's error-stack-parser frames print themselves."""
    split = _split_paren(body)
    if split is None:
        return _located(None, body, line)
    function, location = split
    # V8 marks awaited frames "async fn"; the function is still fn.
    return _located(function.removeprefix("async "), location, line)


def _split_paren(body: str) -> tuple[str, str] | None:
    """("fn", "loc") of "fn (loc)": fn up to the first " (", loc up to the final ")".

    Not a regex: with a lazy fn and a greedy loc one, every " (" costs a scan to the end of
    the line, and a line of thousands of them takes seconds.
    """
    if "\n" in body or not body.endswith(")"):
        return None
    cut = body.find(" (", 1)
    # Neither part may be empty, as the regex this replaces required.
    if cut < 0 or cut + 3 >= len(body):
        return None
    return body[:cut], body[cut + 2 : -1]


def _located(function: str | None, location: str, line: str) -> StackFrame:
    match = _LOCATION.match(location)
    if match is None:
        # "<anonymous>", "native": no file position to read.
        return StackFrame(function_name=function or None, source=line)
    return StackFrame(
        file_name=match["file"],
        function_name=function or None,
        line_number=int(match["line"]),
        column_number=int(match["col"]) if match["col"] else None,
        source=line,
    )
