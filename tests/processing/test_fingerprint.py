"""Error grouping: the message the SDK's `event` holds, its normalisation, the fingerprint.

Proven here:

* `error_message` reads the three shapes the SDK sends (a JSON array of console.error
  arguments, a JSON string, plain text) and returns anything else unchanged, never raising;
* `normalize_message` replaces URLs' query strings, quoted strings, UUIDs, hex ids and
  numbers, and leaves words such as "v2", "10px" and "can't" alone, in linear time;
* `fingerprint` follows the documented recipe byte for byte; occurrences differing only in
  numbers and ids, line and column numbers, hosts, query strings or content hashes share
  one; a different type, top frame or function does not; frames past `top`, and frames
  without a file name, take no part.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from footlight.core.records import StackFrame
from footlight.processing.fingerprint import error_message, fingerprint, normalize_message


def frame(file_name: str | None, function_name: str | None = None, line: int = 1) -> StackFrame:
    return StackFrame(
        file_name=file_name, function_name=function_name, line_number=line, column_number=7
    )


STACK = (
    frame("https://app.example/static/js/main.js", "render", 120),
    frame("https://app.example/static/js/main.js", "commit", 300),
    frame("https://app.example/static/js/vendor.js", "flush", 9),
)


# --- error_message -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param('["harness console.error"]', "harness console.error", id="console-array"),
        pytest.param(
            '["failed to load", 404, {"id": [1.5, null]}, true, "again"]',
            'failed to load 404 {"id":[1.5,null]} true again',
            id="console-array-mixed",
        ),
        pytest.param("[]", "", id="console-no-arguments"),
        pytest.param(
            '"Uncaught TypeError: x is undefined"',
            "Uncaught TypeError: x is undefined",
            id="json-string",
        ),
        pytest.param(
            "Uncaught TypeError: x is undefined",
            "Uncaught TypeError: x is undefined",
            id="plain-text",
        ),
        pytest.param('{"code": 5}', '{"code": 5}', id="json-object-unchanged"),
        pytest.param("42", "42", id="json-number-unchanged"),
        pytest.param("null", "null", id="json-null-unchanged"),
        pytest.param("", "", id="empty"),
        pytest.param('["unterminated', '["unterminated', id="broken-json"),
        pytest.param('"\\ud800"', '"\\ud800"', id="lone-surrogate"),
        pytest.param("[" * 100_000 + "]" * 100_000, "[" * 100_000 + "]" * 100_000, id="deep"),
    ],
)
def test_error_message(event: str, expected: str) -> None:
    assert error_message(event) == expected


# --- normalize_message ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(
            "Order 1234 failed after 2.5 s",
            "Order <n> failed after <n> s",
            id="numbers",
        ),
        pytest.param(
            "user 550e8400-E29B-41d4-a716-446655440000 not found",
            "user <uuid> not found",
            id="uuid",
        ),
        pytest.param(
            "object 5f2b9c1e0a7d not found at 0x1F3A, deadbeef is a word",
            "object <hex> not found at <hex>, deadbeef is a word",
            id="hex",
        ),
        pytest.param(
            "Cannot read properties of undefined (reading 'name')",
            "Cannot read properties of undefined (reading <str>)",
            id="single-quoted",
        ),
        pytest.param('Unexpected token "<" in JSON', "Unexpected token <str> in JSON", id="dq"),
        pytest.param("Can't find variable: foo", "Can't find variable: foo", id="apostrophe"),
        pytest.param(
            "GET https://api.example/users/42?token=abc&page=3#top failed",
            "GET https://api.example/users/<n>?<query>#top failed",
            id="url-query",
        ),
        pytest.param(
            "fetch(https://api.example/x?a=1) failed",
            "fetch(https://api.example/x?<query>) failed",
            id="url-in-parentheses",
        ),
        pytest.param(
            "v2 of item_3 is 10px wide, took 3.14s, version 1.2.3.",
            "v2 of item_3 is 10px wide, took 3.14s, version <n>.",
            id="not-standalone",
        ),
        pytest.param("  too \n many\t spaces  ", "too many spaces", id="whitespace"),
        pytest.param("", "", id="empty"),
    ],
)
def test_normalize_message(message: str, expected: str) -> None:
    assert normalize_message(message) == expected


# --- fingerprint ---------------------------------------------------------------------


# Step 1a as it was first written; the bounded rewrite must replace the same queries.
_URL_QUERY = re.compile(r"""(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s?#'"<>()]*)\?[^\s#'"<>()]*""")
# Nothing here is touched by the later steps but whitespace: no quotes, digits or hex runs.
_URL_PIECES = ["a", "B", ".", "-", "+", "://", "?", "#", "=", " ", "<", ")", "/", "x.y://"]


@given(st.lists(st.sampled_from(_URL_PIECES), max_size=12).map("".join))
def test_query_strings_are_replaced_as_the_first_regex_did(message: str) -> None:
    expected = " ".join(_URL_QUERY.sub(r"\1?<query>", message).split())
    assert normalize_message(message) == expected


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # Each was seconds at a tenth of this size, and grew with the square of it.
        ("a." * 400_000, "a." * 400_000),
        ("a://" * 100_000, "a://" * 100_000),
        ("a://" * 100_000 + "?x", "a://" * 100_000 + "?<query>"),
    ],
)
def test_long_runs_of_url_characters_normalise_in_linear_time(message: str, expected: str) -> None:
    assert normalize_message(message) == expected


def test_fingerprint_follows_the_documented_recipe() -> None:
    # Host, query string and line number dropped; the bundle's hex hash replaced; the
    # frame without a file name skipped; "5" normalised. Serialised as compact ASCII JSON.
    frames = [
        frame(None, "anonymous"),
        frame("https://cdn.example/js/app.8f3a9c1e.js?v=2#x", "handleClick", 77),
        frame("webpack:///./src/Button.tsx", None, 12),
    ]
    expected = hashlib.blake2b(
        b'["TypeError","x is <n> \\u00e9",'
        b'[["/js/app.<hex>.js","handleClick"],["/./src/Button.tsx",""]]]',
        digest_size=8,
    ).hexdigest()
    assert fingerprint("TypeError", "x is 5 \u00e9", frames) == expected


def test_same_error_with_different_numbers_and_ids_has_one_fingerprint() -> None:
    a = fingerprint(
        "window.onerror",
        "Order 17 for user 550e8400-e29b-41d4-a716-446655440000 failed: 'out of stock'",
        STACK,
    )
    b = fingerprint(
        "window.onerror",
        "Order 9012 for user 123e4567-e89b-12d3-a456-426614174000 failed:  'no such sku'",
        STACK,
    )
    assert a == b


def test_different_type_has_another_fingerprint() -> None:
    assert fingerprint("console.error", "boom", STACK) != fingerprint(
        "window.onerror", "boom", STACK
    )


def test_different_message_has_another_fingerprint() -> None:
    assert fingerprint("custom", "boom", STACK) != fingerprint("custom", "bang", STACK)


def test_different_top_frame_has_another_fingerprint() -> None:
    other_file = (frame("https://app.example/static/js/other.js", "render", 120), *STACK[1:])
    other_function = (frame("https://app.example/static/js/main.js", "paint", 120), *STACK[1:])
    base = fingerprint("custom", "boom", STACK)
    assert fingerprint("custom", "boom", other_file) != base
    assert fingerprint("custom", "boom", other_function) != base


def test_line_and_column_numbers_do_not_matter() -> None:
    moved = tuple(
        StackFrame(
            file_name=f.file_name,
            function_name=f.function_name,
            line_number=(f.line_number or 0) + 40,
            column_number=99,
        )
        for f in STACK
    )
    assert fingerprint("custom", "boom", moved) == fingerprint("custom", "boom", STACK)


def test_host_query_and_content_hash_do_not_matter() -> None:
    staging = [frame("http://localhost:3000/static/js/main.js?cache=1", "render")]
    production = [frame("https://app.example/static/js/main.js#hash", "render")]
    assert fingerprint("custom", "boom", staging) == fingerprint("custom", "boom", production)
    deploy1 = [frame("https://app.example/static/js/main.1a2b3c4d5e.js", "render")]
    deploy2 = [frame("https://app.example/static/js/main.9f8e7d6c5b.js", "render")]
    assert fingerprint("custom", "boom", deploy1) == fingerprint("custom", "boom", deploy2)


def test_frames_beyond_top_are_ignored() -> None:
    deeper_a = (*STACK, frame("https://app.example/a.js", "a"))
    deeper_b = (*STACK, frame("https://app.example/b.js", "b"), frame("https://x/c.js", "c"))
    assert fingerprint("custom", "boom", deeper_a) == fingerprint("custom", "boom", STACK)
    assert fingerprint("custom", "boom", deeper_b) == fingerprint("custom", "boom", STACK)
    # With top=4 the fourth frame counts.
    assert fingerprint("custom", "boom", deeper_a, top=4) != fingerprint(
        "custom", "boom", deeper_b, top=4
    )


def test_frames_without_file_name_do_not_use_up_top() -> None:
    # Unnamed frames are skipped, so the three named ones are still all taken.
    with_unnamed = (frame(None, "native"), STACK[0], frame("", "eval"), *STACK[1:])
    assert fingerprint("custom", "boom", with_unnamed) == fingerprint("custom", "boom", STACK)


def test_top_zero_uses_type_and_message_only() -> None:
    expected = hashlib.blake2b(b'["custom","boom",[]]', digest_size=8).hexdigest()
    assert fingerprint("custom", "boom", STACK, top=0) == expected
    assert fingerprint("custom", "boom", (), top=3) == expected
