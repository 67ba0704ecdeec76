"""A backend error that names no session finds the browser session whose fetch span started
its trace (the W3C `traceparent` the browser SDK sends on `tracingOrigins` requests), in
either order of arrival: what LaunchDarkly's Python, Go and .NET SDKs need, which never read
the `X-Highlight-Request` header."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from footlight.store.base import ErrorView
from tests.helpers.graphql import init_session
from tests.helpers.servers import Server, http_client, http_post
from tests.helpers.store import with_store
from tests.helpers.waiting import wait_for_processing


def _attr(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def _export(resource: list[dict[str, Any]], span: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceSpans": [{"resource": {"attributes": resource}, "scopeSpans": [{"spans": [span]}]}]
    }


def _browser_fetch(trace_id: str, secure_id: str) -> dict[str, Any]:
    """The browser SDK's fetch span: it names the session, and its trace continues on the
    backend."""
    return _export(
        [_attr("service.name", "shop-web"), _attr("highlight.project_id", "1jdkoe52")],
        {
            "traceId": trace_id,
            "spanId": os.urandom(8).hex(),
            "name": "HTTP POST",
            "kind": 3,
            "startTimeUnixNano": str(time.time_ns()),
            "endTimeUnixNano": str(time.time_ns() + 80_000_000),
            "attributes": [
                _attr("highlight.session_id", secure_id),
                _attr("http.method", "POST"),
                _attr("http.url", "https://api.shop.example/checkout"),
            ],
        },
    )


def _backend_failure(trace_id: str, message: str) -> dict[str, Any]:
    """A backend's server span of that trace, recording an exception, naming no session."""
    now = time.time_ns()
    return _export(
        [_attr("service.name", "checkout-api"), _attr("launchdarkly.project_id", "1jdkoe52")],
        {
            "traceId": trace_id,
            "spanId": os.urandom(8).hex(),
            "parentSpanId": os.urandom(8).hex(),
            "name": "POST /checkout",
            "kind": 2,
            "startTimeUnixNano": str(now),
            "endTimeUnixNano": str(now + 50_000_000),
            "events": [
                {
                    "name": "exception",
                    "timeUnixNano": str(now + 10_000_000),
                    "attributes": [
                        _attr("exception.type", "PaymentDeclined"),
                        _attr("exception.message", message),
                    ],
                }
            ],
        },
    )


def _send(server: Server, export: dict[str, Any]) -> None:
    response = http_post(f"{server.url}/v1/traces", json=export, timeout=30)
    assert response.status_code == 200, response.text
    wait_for_processing(server)


def _errors(server: Server, message: str) -> list[ErrorView]:
    found = with_store(server.data_dir, lambda store: store.errors(None, limit=1000))
    return [e for e in found if e.error.message == message]


@pytest.mark.parametrize("browser_first", [True, False], ids=["browser-first", "backend-first"])
def test_a_backend_error_joins_the_session_of_its_trace(quick: Server, browser_first: bool) -> None:
    with http_client(base_url=quick.url, timeout=30) as client:
        secure_id = init_session(client)
    trace_id = os.urandom(16).hex()
    message = f"card declined {trace_id[:8]}"
    exports = [_browser_fetch(trace_id, secure_id), _backend_failure(trace_id, message)]
    if not browser_first:
        exports.reverse()
    _send(quick, exports[0])
    if not browser_first:
        (alone,) = _errors(quick, message)
        assert alone.session_secure_id is None, "no browser span of its trace yet"
    _send(quick, exports[1])

    (error,) = _errors(quick, message)
    assert (error.session_secure_id, error.project_id) == (secure_id, 1)
    on_session = with_store(
        quick.data_dir, lambda store: store.errors(None, session_secure_id=secure_id)
    )
    assert [e.error.message for e in on_session] == [message]


def test_a_backend_error_of_a_trace_no_browser_started_keeps_no_session(quick: Server) -> None:
    trace_id = os.urandom(16).hex()
    message = f"cron failed {trace_id[:8]}"
    _send(quick, _backend_failure(trace_id, message))
    with http_client(base_url=quick.url, timeout=30) as client:
        secure_id = init_session(client)
    _send(quick, _browser_fetch(os.urandom(16).hex(), secure_id))  # another trace
    (error,) = _errors(quick, message)
    assert (error.session_secure_id, error.project_id) == (None, 1)
