"""Reading through the read API: answers that must be JSON, its error shape, session lists."""

from __future__ import annotations

from typing import Any

import httpx


def get_json(client: httpx.Client, path: str, **params: Any) -> Any:
    """GET a read-API route that must answer 200 with JSON."""
    response = client.get(path, params=params)
    assert response.status_code == 200, f"GET {path} {params}: {response.text}"
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def session_ids(client: httpx.Client, **params: Any) -> set[str]:
    """The secure ids the session list returns for these filters (all on one page)."""
    body = get_json(client, "/api/v1/sessions", limit=200, **params)
    assert body["next_cursor"] is None, "more sessions than one page"
    return {s["secure_id"] for s in body["sessions"]}


def assert_error_response(response: httpx.Response, status: int, mentions: str = "") -> None:
    """The API's error shape: `{"error": {"code", "message"}}` with the given status."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error["code"], str)
    assert mentions in error["message"], error["message"]
