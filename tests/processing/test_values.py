"""Reading the SDK's numbers defensively: anything that is not a finite number within ±2**53
(the integers a float holds exactly, well inside every store's 64-bit integers) reads as
None, never as an exception or a value a store cannot hold."""

from __future__ import annotations

from typing import Any

import pytest

from footlight.processing.values import number, stack_frame, whole


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_795_664_479_000, 1_795_664_479_000.0),
        (-12.5, -12.5),
        (2**53, float(2**53)),
        (-(2**53), -float(2**53)),
        (2**53 + 1, None),
        (int("1" * 401), None),  # float() of it raises OverflowError
        (1e300, None),
        (-1e300, None),
        (float("inf"), None),
        (float("-inf"), None),
        (float("nan"), None),
        (True, None),
        ("12", None),
        (None, None),
    ],
)
def test_number_is_none_unless_finite_and_in_range(value: Any, expected: float | None) -> None:
    assert number(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (200, 200),
        (12.9, 12),
        (2**53, 2**53),
        (2**53 + 1, None),
        (1e300, None),  # int(1e300) has 301 digits: no store's integer holds it
        (int("1" * 401), None),
        (float("inf"), None),
        (float("nan"), None),
    ],
)
def test_whole_is_none_unless_finite_and_in_range(value: Any, expected: int | None) -> None:
    assert whole(value) == expected


def test_stack_frame_with_absurd_positions_keeps_the_rest() -> None:
    frame = stack_frame({"fileName": "app.js", "lineNumber": 1e300, "columnNumber": 10**400})
    assert frame is not None
    assert (frame.file_name, frame.line_number, frame.column_number) == ("app.js", None, None)
