"""Whatever a stranger sends, the answer is a deliberate one: never a 500, never an
internal error, always JSON. Hypothesis generates the input; a real server answers it."""

from __future__ import annotations

import base64
import gzip
from typing import Any

import httpx
import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.graphql import init_session
from tests.helpers.paths import FIXTURES

DOCUMENTS = sorted(p.read_text() for p in (FIXTURES / "documents").glob("*.graphql"))
VARIABLE_NAMES = [
    "session_secure_id",
    "payload_id",
    "data",
    "organization_verbose_id",
    "user_identifier",
    "user_object",
    "properties_object",
    "verbatim",
    "timestamp",
    "clientConfig",
    "id",
    "enable_strict_privacy",
    "client_id",
    "network_recording_domains",
]
DELIBERATE = {200, 400, 406, 413, 415, 422}
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _check(response: httpx.Response) -> None:
    assert response.status_code in DELIBERATE, (response.status_code, response.text)
    body = response.json()
    assert isinstance(body, dict)
    codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
    assert "INTERNAL_SERVER_ERROR" not in codes, body
    assert all(codes), body


@FUZZ
@given(body=st.binary(max_size=512))
def test_arbitrary_bytes(client: httpx.Client, body: bytes) -> None:
    _check(client.post("/", content=body, headers={"content-type": "application/json"}))


@FUZZ
@given(
    query=st.sampled_from(DOCUMENTS) | st.text(max_size=200),
    variables=st.dictionaries(st.sampled_from(VARIABLE_NAMES), json_values, max_size=8)
    | json_values,
    operation=st.none() | st.text(max_size=20),
)
def test_real_documents_with_arbitrary_variables(
    client: httpx.Client, query: str, variables: Any, operation: str | None
) -> None:
    body = {"query": query, "variables": variables, "operationName": operation}
    _check(
        client.post(
            "/", content=msgspec.json.encode(body), headers={"content-type": "application/json"}
        )
    )


@FUZZ
@given(
    inner=json_values
    | st.dictionaries(
        st.sampled_from(["events", "messages", "resources", "errors", "web_socket_events"]),
        json_values,
    ),
    wrap=st.sampled_from(["gzip", "raw", "text"]),
)
def test_arbitrary_payload_data(client: httpx.Client, inner: Any, wrap: str) -> None:
    secure_id = init_session(client)
    encoded = msgspec.json.encode(inner)
    data = {
        "gzip": lambda: base64.b64encode(gzip.compress(encoded)).decode(),
        "raw": lambda: base64.b64encode(encoded).decode(),
        "text": lambda: encoded.decode(),
    }[wrap]()
    document = (FIXTURES / "documents" / "PushSessionEvents.graphql").read_text()
    body = {
        "query": document,
        "variables": {"session_secure_id": secure_id, "payload_id": 1, "data": data},
    }
    _check(client.post("/", json=body))


@FUZZ
@given(
    body=st.binary(max_size=512),
    signal=st.sampled_from(["traces", "metrics", "logs"]),
    content_type=st.sampled_from(["application/json", "application/x-protobuf"]),
)
def test_arbitrary_otlp_exports(
    client: httpx.Client, body: bytes, signal: str, content_type: str
) -> None:
    response = client.post(f"/v1/{signal}", content=body, headers={"content-type": content_type})
    assert response.status_code in {200, 400}, (response.status_code, response.text)
    if response.status_code == 400:
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
