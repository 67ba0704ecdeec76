"""What a refused operation leaves behind: nothing, once its answer has been sent."""

from __future__ import annotations

import base64
import gzip
import re
from pathlib import Path

import msgspec

from tests.helpers.graphql import error_codes, init_session, meta_event, push
from tests.helpers.servers import http_client, start_server

MiB = 1024 * 1024
MAX_INFLATED = 16 * MiB


def _rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert match, status
    return int(match.group(1)) / 1024


def test_the_memory_of_refused_pushes_goes_with_their_answers(tmp_path: Path, backend: str) -> None:
    # Each push inflates past the limit: the server inflates 16 MiB of it before refusing.
    # Before, the refusal's traceback kept that buffer in a reference cycle with the
    # GraphQL error, alive until a full garbage collection: 40 refusals in a row took the
    # server ~150 MB above where it started (and a stream of 64 MiB ones past 1 GB).
    filler = "0" * (MAX_INFLATED + MiB)
    payload = {"events": {"events": [meta_event()]}, "messages": filler}
    data = base64.b64encode(gzip.compress(msgspec.json.encode(payload), 6, mtime=0)).decode()
    server = start_server(
        tmp_path / "data", env={"FOOTLIGHT_MAX_INFLATED_BYTES": str(MAX_INFLATED)}, backend=backend
    )
    try:
        with http_client(base_url=server.url, timeout=30) as client:
            secure_id = init_session(client)
            assert error_codes(push(client, secure_id, 1, data)) == ["PAYLOAD_TOO_LARGE"]
            baseline = _rss_mib(server.process.pid)
            for payload_id in range(2, 42):
                assert error_codes(push(client, secure_id, payload_id, data)) == [
                    "PAYLOAD_TOO_LARGE"
                ]
            grown = _rss_mib(server.process.pid) - baseline
        # One refusal's buffers at a time (and what the allocator keeps of them), not forty.
        assert grown < 3 * MAX_INFLATED / MiB, f"RSS grew {grown:.0f} MiB over 40 refusals"
    finally:
        server.stop()
