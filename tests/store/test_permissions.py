"""The embedded store is readable by the user footlight runs as, and no one else.

Every recording is in the data dir. footlight creates it 0700 and its database 0600 (SQLite's
-wal and -shm files take the database's mode), whatever the umask; a data dir or database
that other users may read (made by an older footlight, or by hand) is left as it is, and
every command that opens it warns, saying how to fix it.

SQLite only: a PostgreSQL store keeps nothing in the data dir.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.helpers.graphql import init_session, make_payload, push
from tests.helpers.servers import http_client, start_server

WARNING = "other users of this machine may read every recording"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_dir_and_its_files_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"
    old_umask = os.umask(0o022)  # the usual one, which makes 0755 directories and 0644 files
    try:
        # The harness creates the directory it is given; the store is made one level down.
        server = start_server(tmp_path / "harness", args=["--data-dir", str(data_dir)])
    finally:
        os.umask(old_umask)
    try:
        with http_client(base_url=server.url, timeout=30) as client:
            secure_id = init_session(client)
            assert push(client, secure_id, 1, make_payload()).status_code == 200
            files = {path.name: _mode(path) for path in data_dir.iterdir()}
    finally:
        server.stop()
    assert _mode(data_dir) == 0o700
    assert files == {"footlight.db": 0o600, "footlight.db-wal": 0o600, "footlight.db-shm": 0o600}
    assert _mode(data_dir.parent) == 0o755  # directories above it are not footlight's
    assert WARNING not in server.log()


def test_a_shared_data_dir_is_kept_but_warned_about(tmp_path: Path) -> None:
    data_dir = tmp_path / "shared"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    (data_dir / "footlight.db").touch(mode=0o644)
    (data_dir / "footlight.db").chmod(0o644)
    server = start_server(data_dir)
    try:
        log = server.log()
    finally:
        server.stop()
    assert WARNING in log
    assert f"{data_dir} (mode 0755)" in log
    assert "footlight.db (mode 0644)" in log
    assert f"chmod 700 '{data_dir}'" in log
    assert log.count(WARNING) == 1
    assert _mode(data_dir) == 0o755
    listed = subprocess.run(
        [sys.executable, "-m", "footlight", "project", "list", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert WARNING in listed.stderr
    data_dir.chmod(0o700)
    (data_dir / "footlight.db").chmod(0o600)
    quiet = subprocess.run(
        [sys.executable, "-m", "footlight", "project", "list", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert WARNING not in quiet.stderr
