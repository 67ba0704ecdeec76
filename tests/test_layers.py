"""The layers contract (.importlinter) holds, and would catch an import that goes up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(package_parent: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / ".importlinter"), "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_imports_only_go_down_the_layers() -> None:
    result = _lint(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_import_that_goes_up_breaks_the_contract(tmp_path: Path) -> None:
    copy = tmp_path / "footlight"
    shutil.copytree(ROOT / "src" / "footlight", copy, ignore=shutil.ignore_patterns("static"))
    clock = copy / "core" / "clock.py"
    # The shared clock reaching up into the read API: a cycle through every layer.
    clock.write_text(clock.read_text() + "\nimport footlight.api.routes  # noqa\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert "footlight.core.clock -> footlight.api.routes" in result.stdout


def test_the_contributing_guide_draws_every_layer() -> None:
    contract = (ROOT / ".importlinter").read_text()
    layers = contract.split("layers =", 1)[1]
    names = {
        name.strip()
        for line in layers.splitlines()
        for name in line.split("|")
        if name.strip().startswith("footlight")
    }
    assert names, "no layers read from .importlinter"
    guide = (ROOT / "CONTRIBUTING.md").read_text()
    picture = guide.split("```", 2)[1]
    missing = sorted(name for name in names - {"footlight.__main__"} if name not in picture)
    assert not missing, f"CONTRIBUTING.md's picture lacks layers of .importlinter: {missing}"
