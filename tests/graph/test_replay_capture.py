"""Every GraphQL request the real highlight.run 10.7.5 sent (captured in headless Chromium)
is answered as the SDK needs it, and what it carried is stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.helpers.paths import FIXTURES
from tests.helpers.servers import Server, http_client, start_server
from tests.helpers.store import decoded_payloads, read_session

CAPTURE = FIXTURES / "highlight-run-10.7.5-requests.jsonl"


def _requests() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CAPTURE.read_text().splitlines()]


def test_captured_sdk_requests_are_accepted_and_stored(tmp_path: Path, backend: str) -> None:
    server: Server = start_server(tmp_path / "data", backend=backend)
    try:
        with http_client(base_url=server.url, timeout=30) as client:
            from footlight.cli import main

            assert (
                main(
                    [
                        "project",
                        "create",
                        "harness",
                        "--key",
                        "harness-project",
                        *server.store_args,
                    ]
                )
                == 0
            )
            secure_ids = set()
            for request in _requests():
                response = client.post(
                    request["path"], json=request["body"], headers=request["headers"]
                )
                assert response.status_code == 200, response.text
                assert response.headers["content-type"].startswith(
                    "application/graphql-response+json"
                )
                body = response.json()
                assert "errors" not in body, body
                assert body["data"], body
                secure_ids.add(request["body"]["variables"]["session_secure_id"])
        assert len(secure_ids) == 1
        record = read_session(server.data_dir, secure_ids.pop())
        assert record is not None
        assert record.session.project_id == 2
        pushes = [r for r in _requests() if r["body"]["operationName"] == "PushSessionEvents"]
        assert sorted(p.payload_id for p in record.payloads) == sorted(
            int(r["body"]["variables"]["payload_id"]) for r in pushes
        )
        payloads = decoded_payloads(record)
        messages = [m for p in payloads for m in json.loads(p["messages"])["messages"]]
        assert any("harness console.log" in m["value"] for m in messages)
        assert any(e["event"] == '["harness console.error"]' for p in payloads for e in p["errors"])
        assert ("user", "identifier", "user@example.com") in [
            (f.kind, f.key, f.value) for f in record.fields
        ]
        assert [f.verbatim for f in record.feedback] == ["harness feedback: checkout was slow"]
    finally:
        server.stop()
