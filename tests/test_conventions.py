"""Conventions of the test suite itself, checked so that a new test keeps them."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SHARED_TLS = TESTS / "helpers" / "servers.py"
THIS = Path(__file__).resolve()
_OWN_CONTEXT = re.compile(r"\bhttpx\.(Client|AsyncClient|get|post|put|delete|request)\(")


def clients_with_their_own_tls(root: Path) -> list[str]:
    """Where a file under `root` builds an httpx client (or calls httpx.get and the like)
    without the shared TLS context of `tests.helpers.servers.http_client`: each such client
    loads the CA bundle again (~40 ms of CPU), and the suite makes hundreds."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path in (SHARED_TLS, THIS) or "node_modules" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if _OWN_CONTEXT.search(line):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return found


def test_every_test_client_shares_one_tls_context() -> None:
    found = clients_with_their_own_tls(TESTS)
    assert not found, "use tests.helpers.servers.http_client (or http_get, http_post):\n" + (
        "\n".join(found)
    )


def test_a_client_of_its_own_is_found(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text(
        "import httpx\n\nwith httpx.Client(base_url='http://127.0.0.1') as c:\n    pass\n"
        "answer = httpx.get('http://127.0.0.1/healthz')\nok: httpx.Client | None = None\n"
    )
    assert clients_with_their_own_tls(tmp_path) == [
        "test_x.py:3: with httpx.Client(base_url='http://127.0.0.1') as c:",
        "test_x.py:5: answer = httpx.get('http://127.0.0.1/healthz')",
    ]
