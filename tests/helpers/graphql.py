"""Talking to the public graph as the SDKs do: the GraphQL documents the tests send, and the
calls (initializeSession, pushes, identify, backend errors) made with them."""

from __future__ import annotations

import base64
import gzip
import os
from collections.abc import Mapping
from typing import Any

import httpx
import msgspec

from footlight.store import Project
from tests.helpers.paths import FIXTURES

# The SDK's own documents, byte for byte as highlight.run 10.7.5 sends them.
_DOCUMENTS = FIXTURES / "documents"
INIT_DOC = (_DOCUMENTS / "initializeSession.graphql").read_text()
PUSH_DOC = (_DOCUMENTS / "PushSessionEvents.graphql").read_text()
IDENTIFY_DOC = (_DOCUMENTS / "identifySession.graphql").read_text()
PROPERTIES_DOC = (_DOCUMENTS / "addSessionProperties.graphql").read_text()
FEEDBACK_DOC = (_DOCUMENTS / "addSessionFeedback.graphql").read_text()

# The other operations of the public graph, as other SDKs (or older ones) send them.
TRACK_DOC = """mutation addTrackProperties($session_secure_id: String!, $properties_object: Any) {
  addTrackProperties(session_secure_id: $session_secure_id, properties_object: $properties_object)
}"""
METRICS_DOC = "mutation pushMetrics($metrics: [MetricInput]!) { pushMetrics(metrics: $metrics) }"
BACKEND_DOC = """mutation pushBackendPayload($project_id: String,
  $errors: [BackendErrorObjectInput]!) {
  pushBackendPayload(project_id: $project_id, errors: $errors)
}"""
COMPRESSED_DOC = """mutation PushPayloadCompressed($session_secure_id: String!, $payload_id: ID!,
  $data: String!) {
  pushPayloadCompressed(session_secure_id: $session_secure_id, payload_id: $payload_id, data: $data)
}"""
LEGACY_PUSH_DOC = """mutation PushPayload($session_secure_id: String!, $payload_id: ID!,
  $events: ReplayEventsInput!, $messages: String!, $resources: String!,
  $web_socket_events: String!, $errors: [ErrorObjectInput]!, $is_beacon: Boolean,
  $has_session_unloaded: Boolean, $highlight_logs: String) {
  pushPayload(session_secure_id: $session_secure_id, payload_id: $payload_id, events: $events,
    messages: $messages, resources: $resources, web_socket_events: $web_socket_events,
    errors: $errors, is_beacon: $is_beacon, has_session_unloaded: $has_session_unloaded,
    highlight_logs: $highlight_logs)
}"""


def gql(
    client: httpx.Client,
    query: str,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
    *,
    path: str = "/",
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    if operation_name is not None:
        body["operationName"] = operation_name
    return client.post(path, json=body, headers={"accept": "*/*", **(headers or {})})


def error_codes(response: httpx.Response) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in response.json().get("errors", [])]


def new_secure_id() -> str:
    return "t" + os.urandom(14).hex()[:27]


def init_variables(secure_id: str, project: str = "1jdkoe52", **overrides: Any) -> dict[str, Any]:
    variables: dict[str, Any] = {
        "session_secure_id": secure_id,
        "organization_verbose_id": project,
        "enable_strict_privacy": False,
        "privacy_setting": "none",
        "enable_recording_network_contents": True,
        "clientVersion": "10.7.5",
        "firstloadVersion": "10.7.5",
        "clientConfig": '{"environment":"test"}',
        "environment": "test",
        "id": "client-fingerprint",
        "appVersion": "1.2.3",
        "serviceName": "tests",
        "client_id": "client-" + secure_id,
        "network_recording_domains": [],
    }
    variables.update(overrides)
    return variables


def init_session(client: httpx.Client, secure_id: str | None = None, **overrides: Any) -> str:
    secure_id = secure_id or new_secure_id()
    response = gql(client, INIT_DOC, init_variables(secure_id, **overrides), "initializeSession")
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return str(body["data"]["initializeSession"]["secure_id"])


def make_payload(
    events: list[dict[str, Any]] | None = None,
    messages: list[dict[str, Any]] | None = None,
    resources: list[dict[str, Any]] | None = None,
    errors: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A payload object in the SDK's PushPayload shape."""
    payload: dict[str, Any] = {
        "events": {"events": events if events is not None else [meta_event()]},
        "messages": msgspec.json.encode({"messages": messages or []}).decode(),
        "resources": msgspec.json.encode({"resources": resources or []}).decode(),
        "web_socket_events": msgspec.json.encode({"webSocketEvents": []}).decode(),
        "errors": errors or [],
        "is_beacon": False,
        "has_session_unloaded": False,
    }
    payload.update(extra)
    return payload


def meta_event(ts: int = 1_795_664_479_000, sid: int = 1) -> dict[str, Any]:
    return {
        "type": 4,
        "data": {"href": "https://app.example/", "width": 1280, "height": 800},
        "timestamp": ts,
        "_sid": sid,
    }


def compress(obj: Any, mtime: int = 0) -> str:
    raw = obj if isinstance(obj, bytes) else msgspec.json.encode(obj)
    return base64.b64encode(gzip.compress(raw, mtime=mtime)).decode()


def push(
    client: httpx.Client,
    secure_id: str,
    payload_id: Any,
    payload: Any,
    operation: str = "PushSessionEvents",
) -> httpx.Response:
    data = payload if isinstance(payload, str) else compress(payload)
    return gql(
        client,
        PUSH_DOC,
        {"session_secure_id": secure_id, "payload_id": payload_id, "data": data},
        operation,
    )


def record(
    client: httpx.Client,
    project: Project,
    events: list[dict[str, Any]] | None = None,
    *,
    errors: list[dict[str, Any]] | None = None,
    environment: str = "test",
    **payload: Any,
) -> str:
    """Start a session of `project` and push one payload (payload id 1) to it."""
    secure_id = init_session(client, project=str(project.id), environment=environment)
    pushed = push(client, secure_id, 1, make_payload(events=events, errors=errors, **payload))
    assert pushed.json() == {"data": {"pushSessionEvents": None}}, pushed.text
    return secure_id


def identify(
    client: httpx.Client,
    secure_id: str,
    identifier: str,
    user_object: Mapping[str, Any] | None = None,
) -> None:
    variables = {
        "session_secure_id": secure_id,
        "user_identifier": identifier,
        "user_object": dict(user_object) if user_object is not None else None,
    }
    response = gql(client, IDENTIFY_DOC, variables, "identifySession")
    assert response.json() == {"data": {"identifySession": identifier}}, response.text


def push_backend_errors(
    client: httpx.Client, project: Project, errors: list[dict[str, Any]]
) -> None:
    response = gql(client, BACKEND_DOC, {"project_id": str(project.id), "errors": errors})
    assert response.json() == {"data": {"pushBackendPayload": None}}, response.text


MARK_BACKEND = """mutation markBackendSetup($project_id: String, $session_secure_id: String,
  $type: String) {
  markBackendSetup(project_id: $project_id, session_secure_id: $session_secure_id, type: $type)
}"""
