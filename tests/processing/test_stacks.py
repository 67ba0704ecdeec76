"""Stack frames from the stack traces SDKs send as text (footlight.processing.stacks)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from footlight.core.records import StackFrame
from footlight.processing.stacks import parse_stacktrace


def test_firefox_stacks_parse() -> None:
    frames = parse_stacktrace(
        "renderCart@https://shop.example/app.js:10:5\n"
        "@https://shop.example/app.js:2:1\n"
        "Error: not a frame at all\n"
    )
    assert [(f.function_name, f.file_name, f.line_number, f.column_number) for f in frames] == [
        ("renderCart", "https://shop.example/app.js", 10, 5),
        (None, "https://shop.example/app.js", 2, 1),
    ]


def test_python_tracebacks_parse_innermost_first_and_the_last_of_a_chain() -> None:
    frames = parse_stacktrace(
        "Traceback (most recent call last):\n"
        '  File "/app/jobs.py", line 3, in <module>\n'
        "    run()\n"
        "KeyError: 'lock'\n"
        "\n"
        "During handling of the above exception, another exception occurred:\n"
        "\n"
        "Traceback (most recent call last):\n"
        '  File "/app/views.py", line 40, in checkout\n'
        "    charge(order)\n"
        '  File "/app/payments.py", line 12, in charge\n'
        '    raise ValueError("card declined")\n'
        "ValueError: card declined\n"
    )
    assert [(f.function_name, f.file_name, f.line_number) for f in frames] == [
        ("charge", "/app/payments.py", 12),
        ("checkout", "/app/views.py", 40),
    ]


# How frames written "fn (location)" were read before; the reading must not change.
_PAREN_FRAME = re.compile(r"^(?P<fn>.+?) \((?P<loc>.+)\)$")
_LOCATION = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::(?P<col>\d+))?$")


def _regex_frame(body: str) -> StackFrame:
    split = _PAREN_FRAME.match(body)
    function = split["fn"].removeprefix("async ") or None if split else None
    location = _LOCATION.match(split["loc"] if split else body)
    if location is None:
        return StackFrame(function_name=function, source=body)
    column = location["col"]
    return StackFrame(
        location["file"], function, int(location["line"]), int(column) if column else None, body
    )


_PIECES = st.lists(st.sampled_from(["a", "async ", " (", ")", ":1", " ", "\n"]), max_size=4)
# Shaped like "fn (location)", each part possibly empty or holding more " (" and ")".
_FRAME_LIKE = st.tuples(
    _PIECES.map("".join),
    st.sampled_from([" (", "(", ""]),
    _PIECES.map("".join),
    st.sampled_from([")", ") ", ""]),
).map("".join)


@given(_FRAME_LIKE)
def test_frames_read_as_the_regex_read_them(text: str) -> None:
    body = text.strip()
    listed = parse_stacktrace(json.dumps([body]))
    assert listed == ((_regex_frame(body),) if body else ())


@pytest.mark.timeout(30)
def test_a_line_of_many_open_parentheses_parses_in_linear_time() -> None:
    # Without a closing one, the regex split rescanned the line from every " (": seconds
    # for 20,000 of them, growing with their square.
    line = "at " + "a (" * 200_000 + "app.js:1:2"
    (frame,) = parse_stacktrace(line)
    assert (frame.function_name, frame.file_name, frame.line_number, frame.column_number) == (
        None,
        "a (" * 200_000 + "app.js",
        1,
        2,
    )
