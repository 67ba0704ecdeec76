"""The requests the benchmarks send: what highlight.run 10.7.5 really sent, made many.

Every body starts from the SDK's captured requests (tests/fixtures), so footlight is measured
on the traffic it meets in production. The helpers give a body for another session or
payload id; `write_templates` writes the request mix's bodies with `__SID__` and `__PID__`
placeholders for bench/mix.lua and the paced client to fill in.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
DOCUMENTS = FIXTURES / "documents"


def captured(operation: str) -> list[dict[str, Any]]:
    """The bodies of `operation` the SDK sent, in order."""
    lines = (FIXTURES / "highlight-run-10.7.5-requests.jsonl").read_text().splitlines()
    bodies = [json.loads(line)["body"] for line in lines]
    return [b for b in bodies if b.get("operationName") == operation]


def compress(payload: Any) -> str:
    """A push's `data`: the payload (JSON, or bytes as they are) gzipped and base64-encoded."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.b64encode(gzip.compress(raw, 6, mtime=0)).decode()


def payload(events: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A push's payload as the SDK builds it, with these events and nothing else to report."""
    return {
        "events": {"events": events},
        "messages": '{"messages":[]}',
        "resources": '{"resources":[]}',
        "web_socket_events": '{"webSocketEvents":[]}',
        "errors": [],
        "is_beacon": False,
        "has_session_unloaded": False,
        **extra,
    }


def with_variables(body: dict[str, Any], **variables: Any) -> dict[str, Any]:
    """A captured body with some of its variables replaced."""
    return {**body, "variables": {**body["variables"], **variables}}


def init_body(secure_id: str, project: str = "1") -> dict[str, Any]:
    """The SDK's initializeSession, for a session of this id in this project."""
    return with_variables(
        captured("initializeSession")[0],
        session_secure_id=secure_id,
        organization_verbose_id=project,
    )


def push_body(secure_id: str, payload_id: int, data: str) -> dict[str, Any]:
    """A PushSessionEvents of `data`; the payload id is a JSON string, as the SDK sends it."""
    return {
        "operationName": "PushSessionEvents",
        "query": (DOCUMENTS / "PushSessionEvents.graphql").read_text(),
        "variables": {"session_secure_id": secure_id, "payload_id": str(payload_id), "data": data},
    }


def large_push_data() -> str:
    """A first push of a real page: a FullSnapshot of ~2,500 nodes (~300 KB of JSON)."""
    rng = random.Random(42)
    words = ["card", "row", "price", "title", "button", "item", "list", "grid", "nav", "cell"]
    nodes: list[dict[str, Any]] = []
    for i in range(2500):
        nodes.append(
            {
                "type": 2,
                "tagName": rng.choice(["div", "span", "li", "a", "p"]),
                "id": 100 + i,
                "attributes": {"class": " ".join(rng.choices(words, k=3))},
                "childNodes": [
                    {"type": 3, "textContent": " ".join(rng.choices(words, k=8)), "id": 100_000 + i}
                ],
            }
        )
    events = [
        {
            "type": 4,
            "data": {"href": "https://shop.example/", "width": 1280, "height": 800},
            "timestamp": 1795664479000,
            "_sid": 1,
        },
        {
            "type": 2,
            "data": {
                "node": {"type": 0, "id": 1, "childNodes": nodes},
                "initialOffset": {"left": 0, "top": 0},
            },
            "timestamp": 1795664479010,
            "_sid": 2,
        },
    ]
    return compress(payload(events))


def _with_placeholders(body: dict[str, Any], pid: bool = False) -> str:
    variables = dict(body["variables"])
    variables["session_secure_id"] = "__SID__"
    if pid:
        variables["payload_id"] = "__PID__"
    # Payload ids stay JSON strings ("__PID__" filled with digits), as the SDK sends them.
    return json.dumps({**body, "variables": variables})


def write_templates(directory: Path) -> None:
    """The request mix's bodies, one file each, for bench/mix.lua and `load.Mix`."""
    pushes = captured("PushSessionEvents")
    for i in range(5):
        (directory / f"push-{i + 1}.json").write_text(
            _with_placeholders(pushes[i % len(pushes)], pid=True)
        )
    large = with_variables(pushes[0], data=large_push_data())
    (directory / "push-large.json").write_text(_with_placeholders(large, pid=True))
    for name, operation in (
        ("init", "initializeSession"),
        ("identify", "identifySession"),
        ("properties", "addSessionProperties"),
        ("feedback", "addSessionFeedback"),
    ):
        body = captured(operation)[0]
        if name == "init":
            body = with_variables(body, organization_verbose_id="1")
        (directory / f"{name}.json").write_text(_with_placeholders(body))
