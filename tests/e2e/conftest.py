"""What every end-to-end test shares: the e2e app served on its own origin, a module-scoped
Chromium (`browser`), and the session the real SDK recorded on each backend (made once per
test run: tests/helpers/recording.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.helpers.browser import chromium, serving_app
from tests.helpers.recording import Recording, shared_recording


@pytest.fixture(scope="module")
def app_origin() -> Iterator[str]:
    """The e2e app on its own origin, served by a plain static file server."""
    with serving_app() as origin:
        yield origin


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium for one test module (the module's own Playwright)."""
    with chromium() as module_chromium:
        yield module_chromium


@pytest.fixture(scope="session")
def sdk_recording(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Recording:
    """The session the real SDK recorded on `backend`; read it through `replica`."""
    shared = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:
        shared = shared.parent  # every worker's base directory is in the run's
    return shared_recording(shared, backend)
