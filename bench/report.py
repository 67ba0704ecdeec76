"""What every benchmark prints besides its numbers: where it ran and how far it has got.

A result is only comparable with another of the same commit on the same kind of machine, so
each report names both; progress goes to stderr, so that stdout holds the report alone.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def commit() -> str:
    """The checkout's short commit id, or "unknown" outside a git checkout."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> str:
    """The cores, the CPU model and the Python the numbers were measured with."""
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} x {model}, Python {platform.python_version()}"


def step(text: str) -> None:
    """Say which step of the run starts now."""
    print(f"-- {text}", file=sys.stderr, flush=True)
