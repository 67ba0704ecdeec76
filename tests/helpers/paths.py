"""Where the repository and the tests' recorded fixtures are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
ARTIFACTS = ROOT / "test-artifacts"
"""Screenshots the browser tests leave for a human (and CI) to look at."""
