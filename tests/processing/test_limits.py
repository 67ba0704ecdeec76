"""What processing keeps of a stranger's text, and when an error happened (pure functions)."""

from __future__ import annotations

import pytest

from footlight.core.payload import PayloadSummary
from footlight.core.records import StackFrame
from footlight.processing.limits import (
    DerivationLimits,
    RowBudget,
    clip_frames,
    clip_json,
    clip_text,
    plausible_time,
)
from footlight.processing.session import DAY_MS, error_time
from footlight.store.base import StoredPayload

T0 = 1_795_664_479_000


def test_text_within_the_limit_is_kept_and_longer_text_is_cut_with_a_marker() -> None:
    assert clip_text("abc", 3) == "abc"
    assert clip_text("abcdef", 3) == "abc… [cut: 3 more characters]"
    assert clip_text("x" * 12_345, 0) == "… [cut: 12,345 more characters]"


def test_cutting_twice_keeps_the_first_count() -> None:
    once = clip_text("y" * 500, 10)
    assert clip_text(once, 10) == once


def test_json_that_fits_is_returned_as_it_is() -> None:
    value = {"plan": "pro", "seats": [1, 2, 3]}
    assert clip_json(value, 100) is value


def test_json_keeps_its_first_entries_then_a_marker() -> None:
    value = {f"k{i}": "v" * 10 for i in range(20)}
    clipped = clip_json(value, 60)
    assert list(clipped)[:3] == ["k0", "k1", "k2"]
    assert clipped["…"].startswith("… [cut: ")
    assert clipped["…"].endswith(" more keys]")
    kept = len(clipped) - 1
    assert clipped["…"] == f"… [cut: {20 - kept} more keys]"
    items = clip_json(["z" * 30] * 10, 70)
    assert items[-1] == f"… [cut: {10 - (len(items) - 1)} more items]"


def test_json_nested_too_deeply_is_replaced_by_a_marker() -> None:
    deep: object = "leaf" * 100
    for _ in range(40):
        deep = [deep]
    clipped = clip_json(deep, 100)
    for _ in range(32):
        assert isinstance(clipped, list)
        clipped = clipped[0]
    assert clipped == "… [cut: nested deeper than 32 levels]"


def test_a_trace_keeps_its_first_frames_and_says_how_many_were_cut() -> None:
    limits = DerivationLimits(max_stack_frames=2, max_text_chars=5)
    frames = tuple(StackFrame(file_name=f"file{i}.js", function_name="f") for i in range(4))
    assert clip_frames(frames, limits) == (
        StackFrame(file_name="file0… [cut: 3 more characters]", function_name="f"),
        StackFrame(file_name="file1… [cut: 3 more characters]", function_name="f"),
        StackFrame(source="… [cut: 2 more frames]"),
    )


def test_row_budget_keeps_rows_per_kind_and_stops_at_its_bytes() -> None:
    budget = RowBudget(DerivationLimits(max_rows_per_kind=2, max_bytes_per_session=100))
    kept = [budget.keep("console", 10) for _ in range(3)]
    assert kept == [True, True, False]
    assert budget.keep("errors", 70) is True
    assert budget.keep("errors", 20) is False  # 110 > 100: the budget is spent ...
    assert budget.keep("network", 1) is False  # ... and nothing later is kept
    assert budget.not_kept == {"console": 1, "errors": 1, "network": 1}


def _payload(first: int | None, last: int | None, received: int) -> StoredPayload:
    return StoredPayload(
        seq=1,
        payload_id=1,
        source="compressed",
        received_at=received,
        summary=PayloadSummary(2, first, last, False),
        body=b"",
    )


RECEIVED = T0 + 7 * DAY_MS  # a week after the recording, as a late test run would see it


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-11-26T03:41:21.546Z", T0 + 2546),  # during the recording
        ("2026-11-26T03:41:21.546", T0 + 2546),  # no offset: UTC
        ("9999-12-31T23:59:59-14:00", T0 + 5000),  # the payload's last event
        ("0001-01-01T00:00:00+14:00", T0 + 5000),
        ("2026-11-28T03:41:21Z", T0 + 5000),  # two days after the events
        ("2026-11-20T03:41:21Z", T0 + 5000),  # six days before them
        ("yesterday", T0 + 5000),
        (None, T0 + 5000),
    ],
)
def test_an_error_time_far_from_its_payload_is_the_payloads_time(
    moment: str | None, expected: int
) -> None:
    assert error_time(moment, _payload(T0, T0 + 5000, RECEIVED)) == expected


def test_without_plausible_events_an_error_time_is_bounded_by_when_it_was_received() -> None:
    no_events = _payload(None, None, RECEIVED)
    assert error_time("2026-11-26T03:41:21Z", no_events) == T0 + 2000  # in the past: kept
    assert error_time("9999-12-31T23:59:59Z", no_events) == RECEIVED
    broken_clock = _payload(2**53 - 10, 2**53, RECEIVED)
    assert error_time("9999-12-31T23:59:59Z", broken_clock) == RECEIVED
    assert error_time("2026-11-26T03:41:21Z", broken_clock) == T0 + 2000


def test_backend_and_otlp_error_times_are_bounded_by_when_they_were_received() -> None:
    assert plausible_time(T0, RECEIVED) == T0
    assert plausible_time(RECEIVED + DAY_MS, RECEIVED) == RECEIVED + DAY_MS
    assert plausible_time(RECEIVED + DAY_MS + 1, RECEIVED) == RECEIVED
    assert plausible_time(-1, RECEIVED) == RECEIVED
