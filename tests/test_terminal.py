"""A stranger's text reaches the operator's terminal shown, never obeyed.

The server's log (which `footlight serve` writes to the terminal) quotes what clients send,
and `footlight export` writes recorded text to stdout. Escape sequences, bell, carriage
returns, newlines that forge log lines and bidi overrides are written as visible escapes.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time

import httpx
import msgspec

from footlight.terminal import json_for_terminal, visible, visible_lines
from tests.helpers.graphql import gql, init_session, make_payload, meta_event, push
from tests.helpers.servers import Server

HOSTILE = "\x1b]0;owned\x07\x1b[2J\x1b[31mred\r\nFAKE 200 OK\u202egnp.exe\x9b0m\x7f"


def test_control_characters_are_escaped_and_other_text_kept() -> None:
    shown = visible("Ünïcödé 日本 tab\there" + HOSTILE)
    assert shown.startswith("Ünïcödé 日本 tab\\there")
    assert shown.isprintable()
    for escape in ("\\x1b]0;", "\\x07", "\\r\\nFAKE", "\\u202e", "\\x9b", "\\x7f"):
        assert escape in shown
    assert visible_lines("Traceback:\n  \x1b[2J\n") == "Traceback:\n  \\x1b[2J\n"


def test_json_for_a_terminal_means_the_same_json() -> None:
    document = msgspec.json.encode({"text": "a\u009b31m\u202eb\x7f é 日本", "n": 1})
    escaped = json_for_terminal(document)
    assert msgspec.json.decode(escaped) == msgspec.json.decode(document)
    assert b"\xc2\x9b" not in escaped
    assert b"\\u009b" in escaped
    assert "é 日本".encode() in escaped


def test_a_refused_request_is_logged_with_its_control_characters_escaped(
    client: httpx.Client, server: Server
) -> None:
    before = len(server.log())
    response = gql(client, "query A { ignore(id: 1) }", operation_name=HOSTILE)
    assert response.status_code in (400, 422)
    deadline = time.monotonic() + 5
    while "Unknown operation" not in server.log()[before:] and time.monotonic() < deadline:
        time.sleep(0.05)
    logged = server.log()[before:]
    assert "Unknown operation named" in logged
    for raw in ("\x1b", "\x07", "\r", "\u202e", "\x9b", "\x7f"):
        assert raw not in logged, f"{raw!r} reached the log raw"
    assert "\nFAKE 200 OK" not in logged
    assert "\\x1b]0;owned" in logged


def test_export_to_a_terminal_escapes_what_a_terminal_would_obey(
    client: httpx.Client, server: Server
) -> None:
    secure_id = init_session(client)
    custom = {"type": 5, "data": {"tag": "Track", "payload": HOSTILE[8:]}, "timestamp": 1}
    response = push(client, secure_id, 1, make_payload(events=[meta_event(), custom]))
    assert response.json() == {"data": {"pushSessionEvents": None}}
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "footlight", "export", secure_id, *server.store_args],
        stdout=secondary,
        stderr=subprocess.DEVNULL,
    )
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        shown += chunk
    os.close(primary)
    assert process.wait(timeout=30) == 0
    assert shown.startswith(b"[")
    assert b"\\u009b0m" in shown
    assert b"\\u202e" in shown
    for raw in ("\u009b", "\u202e", "\x7f"):
        assert raw.encode() not in shown
    assert msgspec.json.decode(shown.replace(b"\r\n", b"\n"))[1]["data"]["payload"] == HOSTILE[8:]
