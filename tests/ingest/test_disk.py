"""A disk that fills (footlight.ingest.disk): below the watermark new sessions wait (503
LOW_DISK) while a recording goes on; when the disk is full, writes are refused (503) and
nothing acknowledged is lost; once space returns, footlight takes writes again without a
restart, and the store is intact. On a real, small file system: a tmpfs of 64 MiB."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.cli import run_footlight
from tests.helpers.graphql import (
    INIT_DOC,
    error_codes,
    gql,
    init_variables,
    make_payload,
    new_secure_id,
    push,
)
from tests.helpers.servers import Server, client_of, start_server
from tests.helpers.store import db_rows
from tests.helpers.ui import new_token

MiB = 1024 * 1024
DISK_BYTES = 64 * MiB
BALLAST_BYTES = 32 * MiB
WATERMARK_BYTES = 16 * MiB


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs, with 32 MiB of ballast an operator can delete to make room: the store
    has 32 MiB, of which the last 16 are below the watermark (the free space is read once a
    second, and the WAL and the database file both hold what was written lately)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        (mount / "ballast").write_bytes(b"\0" * BALLAST_BYTES)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def free_space(disk: Path) -> str:
    """The tmpfs's free space and the store's files, for a failure's message."""
    files = ", ".join(
        f"{p.name} {p.stat().st_size:,}" for p in sorted((disk / "data").glob("footlight.db*"))
    )
    return f"{shutil.disk_usage(disk).free:,} bytes free; {files}"


def noise_payload() -> dict[str, object]:
    """~150 KB of payload that gzip cannot shrink."""
    noise = base64.b64encode(os.urandom(110_000)).decode()
    return make_payload(
        events=[{"type": 5, "data": {"tag": "noise", "payload": noise}, "timestamp": 1}]
    )


def new_session(client: httpx.Client, secure_id: str | None = None) -> httpx.Response:
    return gql(client, INIT_DOC, init_variables(secure_id or new_secure_id()), "initializeSession")


def acknowledged(answer: httpx.Response) -> bool:
    return answer.status_code == 200 and "errors" not in answer.json()


def test_a_filling_disk_refuses_new_sessions_then_writes_and_loses_nothing(
    small_disk: Path, tmp_path: Path
) -> None:
    server: Server = start_server(
        small_disk / "data",
        {
            "FOOTLIGHT_MIN_FREE_DISK_BYTES": str(WATERMARK_BYTES),
            "FOOTLIGHT_SESSION_REQUESTS_PER_SECOND": "0",
            "FOOTLIGHT_SESSION_BYTES_PER_SECOND": "0",
        },
    )
    kept: list[int] = []
    try:
        token = new_token(server)
        with client_of(server) as client:
            recording = new_secure_id()
            assert acknowledged(new_session(client, recording))
            # 1. Pushes fill the disk until a new session is refused; the recording goes on.
            refused = None
            payload_id = 0
            while refused is None and payload_id < 600:
                payload_id += 1
                if acknowledged(push(client, recording, payload_id, noise_payload())):
                    kept.append(payload_id)
                if payload_id % 5 == 0:
                    answer = new_session(client)
                    if not acknowledged(answer):
                        refused = answer
            assert refused is not None, "no new session was refused as the disk filled"
            assert refused.status_code == 503
            assert refused.headers["retry-after"]
            assert error_codes(refused) == ["LOW_DISK"]
            assert "FOOTLIGHT_MIN_FREE_DISK_BYTES" in refused.text
            assert acknowledged(new_session(client, recording))  # a reload of a recording
            ready = client.get("/readyz")
            if ready.status_code == 200:
                # Nearly full, with room for the probe's write: ready, and saying why new
                # sessions are refused (with the room left anywhere from a few KB up).
                assert "FOOTLIGHT_MIN_FREE_DISK_BYTES" in ready.json()["warnings"][0]
            else:
                # Under a loaded machine a checkpoint can move the WAL's megabytes into the
                # database file at once and take the rest of the room: then the probe's
                # write is refused, as on a full disk; never while there is room.
                assert ready.status_code == 503, (ready.text, free_space(small_disk))
                assert shutil.disk_usage(small_disk).free <= 2 * MiB, free_space(small_disk)
            read = client.get("/api/v1/sessions", headers={"authorization": f"Bearer {token}"})
            assert read.status_code == 200
            assert recording in read.text
            # 2. The recording pushes on until the disk is full: those writes are refused.
            failures: list[httpx.Response] = []
            while len(failures) < 3 and payload_id < 1200:
                payload_id += 1
                answer = push(client, recording, payload_id, noise_payload())
                if acknowledged(answer):
                    kept.append(payload_id)
                else:
                    failures.append(answer)
            assert failures, "the disk never filled"
            for answer in failures:
                assert answer.status_code == 503, answer.text
                assert answer.headers["retry-after"]
            assert client.get("/readyz").status_code in (200, 503)
            # 3. Space returns: writes and new sessions are taken again, without a restart.
            (small_disk / "ballast").unlink()
            deadline = time.monotonic() + 15
            while not acknowledged(push(client, recording, payload_id + 1, noise_payload())):
                assert time.monotonic() < deadline, (
                    f"writes were not taken again: {free_space(small_disk)}"
                )
                time.sleep(0.2)
            kept.append(payload_id + 1)
            deadline = time.monotonic() + 15
            while not acknowledged(new_session(client)):
                assert time.monotonic() < deadline, (
                    f"new sessions were not taken again: {free_space(small_disk)}"
                )
                time.sleep(0.2)
    finally:
        server.stop()
    # 4. The store is intact and holds every acknowledged payload.
    with sqlite3.connect(server.data_dir / "footlight.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    stored = {
        row[0]
        for row in db_rows(
            server.data_dir,
            "SELECT p.payload_id FROM payloads p JOIN sessions s ON s.id = p.session_id"
            " WHERE s.secure_id = ?",
            [recording],
        )
    }
    assert set(kept) <= stored, sorted(set(kept) - stored)
    assert len(kept) > 20
    # Readable, too: the export holds one noise event per stored payload.
    exported = tmp_path / "export.json"
    done = run_footlight("export", recording, "-o", str(exported), *server.store_args)
    assert done.returncode == 0, done.stderr
    events = json.loads(exported.read_text())
    assert sum(1 for e in events if e.get("data", {}).get("tag") == "noise") == len(stored)
