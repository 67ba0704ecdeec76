"""Running the `footlight` command as a user runs it: a process of its own, its output."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.helpers.servers import Server


def run_footlight(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`footlight ARGS`, whatever it answers. `env` is its whole environment (by default,
    this process's)."""
    return subprocess.run(
        [sys.executable, "-m", "footlight", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )


def footlight(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    """`footlight ARGS` on the server's store, beside the running server."""
    return run_footlight(*args, *server.store_args)


def footlight_ok(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    done = footlight(server, *args)
    assert done.returncode == 0, f"footlight {' '.join(args)} failed:\n{done.stderr}"
    return done


def create_token(
    server: Server,
    *,
    name: str | None = None,
    project: str | None = None,
    scope: str | None = None,
) -> str:
    """A read-API token, made the way a user makes one: `footlight token create`."""
    options = {"--name": name, "--project": project, "--scope": scope}
    args = [
        part for option, value in options.items() if value is not None for part in (option, value)
    ]
    return footlight_ok(server, "token", "create", *args).stdout.strip()
