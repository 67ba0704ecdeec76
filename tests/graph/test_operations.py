"""Every operation of the public graph over real HTTP: what it answers, what it stores, that
a retry stores nothing twice, and that a refused request writes nothing."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from footlight.cli import main as footlight
from tests.helpers.graphql import (
    BACKEND_DOC,
    COMPRESSED_DOC,
    FEEDBACK_DOC,
    IDENTIFY_DOC,
    INIT_DOC,
    LEGACY_PUSH_DOC,
    METRICS_DOC,
    PROPERTIES_DOC,
    PUSH_DOC,
    TRACK_DOC,
    compress,
    error_codes,
    gql,
    init_session,
    init_variables,
    make_payload,
    meta_event,
    new_secure_id,
    push,
)
from tests.helpers.inspection import backend_errors
from tests.helpers.servers import Server
from tests.helpers.store import decoded_payloads, read_session, with_store

# The LaunchDarkly successor SDK asks for its sampling rules with this query at start.
SAMPLING = """fragment MatchParts on MatchConfig { regexValue matchValue }
query GetSamplingConfig($organization_verbose_id: String!) {
  sampling(organization_verbose_id: $organization_verbose_id) {
    spans { name { ...MatchParts } attributes { key { ...MatchParts } attribute { ...MatchParts } }
            events { name { ...MatchParts } } samplingRatio }
    logs { message { ...MatchParts } severityText { ...MatchParts } samplingRatio }
  }
}"""


def base64_of(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _record(server: Server, secure_id: str) -> Any:
    record = read_session(server.data_dir, secure_id)
    assert record is not None
    return record


def _fields(server: Server, secure_id: str) -> set[tuple[str, str, str]]:
    return {(f.kind, f.key, f.value) for f in _record(server, secure_id).fields}


def _ok(response: httpx.Response, field: str, value: Any) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {field: value}}


# -- initializeSession -------------------------------------------------------------------------


@pytest.mark.parametrize("project", ["1jdkoe52", "1", "+1", "001"])
def test_initialize_session_accepts_verbose_and_numeric_project_ids(
    client: httpx.Client, project: str
) -> None:
    secure_id = new_secure_id()
    response = gql(client, INIT_DOC, init_variables(secure_id, project), "initializeSession")
    _ok(
        response,
        "initializeSession",
        {"secure_id": secure_id, "project_id": "1", "sampling": None},
    )


def test_initialize_session_accepts_a_project_key(client: httpx.Client, server: Server) -> None:
    key = "ld-client-side-" + new_secure_id()
    assert footlight(["project", "create", "keyed", "--key", key, *server.store_args]) == 0
    secure_id = new_secure_id()
    response = gql(client, INIT_DOC, init_variables(secure_id, key), "initializeSession")
    project_id = response.json()["data"]["initializeSession"]["project_id"]
    assert project_id != "1"
    assert _record(server, secure_id).session.project_id == int(project_id)


@pytest.mark.parametrize("project", ["no-such-key", "1jdkoe53", "999999"])
def test_initialize_session_for_an_unknown_project_writes_nothing(
    client: httpx.Client, server: Server, project: str
) -> None:
    secure_id = new_secure_id()
    response = gql(client, INIT_DOC, init_variables(secure_id, project), "initializeSession")
    assert response.status_code == 200
    assert response.json()["data"] is None
    assert error_codes(response) == ["NOT_FOUND"]
    assert project in response.json()["errors"][0]["message"]
    assert read_session(server.data_dir, secure_id) is None


def test_a_reload_keeps_one_session_and_its_first_details(
    client: httpx.Client, server: Server
) -> None:
    secure_id = init_session(client, environment="first")
    again = gql(
        client, INIT_DOC, init_variables(secure_id, environment="second"), "initializeSession"
    )
    assert again.json()["data"]["initializeSession"]["secure_id"] == secure_id
    assert _record(server, secure_id).session.environment == "first"


def _create_project(server: Server, name: str) -> int:
    return with_store(server.data_dir, lambda store: store.create_project(name)).id


def test_a_secure_id_of_another_project_is_refused(client: httpx.Client, server: Server) -> None:
    secure_id = init_session(client)
    other = _create_project(server, "other")
    response = gql(
        client, INIT_DOC, init_variables(secure_id, project=str(other)), "initializeSession"
    )
    assert error_codes(response) == ["FORBIDDEN"]
    assert _record(server, secure_id).session.project_id == 1


def test_initialize_session_records_the_browser(client: httpx.Client, server: Server) -> None:
    secure_id = new_secure_id()
    gql(
        client,
        INIT_DOC,
        init_variables(secure_id),
        "initializeSession",
        headers={"user-agent": "Mozilla/5.0 TestBrowser", "accept-language": "fr-FR"},
    )
    session = _record(server, secure_id).session
    assert session.user_agent == "Mozilla/5.0 TestBrowser"
    assert session.accept_language == "fr-FR"
    assert session.client_id == "client-" + secure_id
    assert session.app_version == "1.2.3"


def test_sdks_before_august_2022_get_a_numeric_id_and_may_omit_the_secure_id(
    client: httpx.Client, server: Server
) -> None:
    old_init = """mutation initializeSession($organization_verbose_id: String!,
      $enable_strict_privacy: Boolean!, $enable_recording_network_contents: Boolean!,
      $clientVersion: String!, $firstloadVersion: String!, $clientConfig: String!,
      $environment: String!, $id: String!, $appVersion: String) {
      initializeSession(organization_verbose_id: $organization_verbose_id,
        enable_strict_privacy: $enable_strict_privacy,
        enable_recording_network_contents: $enable_recording_network_contents,
        clientVersion: $clientVersion, firstloadVersion: $firstloadVersion,
        clientConfig: $clientConfig, environment: $environment, appVersion: $appVersion,
        fingerprint: $id) { id secure_id organization_id project_id }
    }"""
    variables = init_variables("unused")
    for name in (
        "session_secure_id",
        "client_id",
        "privacy_setting",
        "serviceName",
        "network_recording_domains",
    ):
        del variables[name]
    answer = gql(client, old_init, variables).json()["data"]["initializeSession"]
    assert len(answer["secure_id"]) == 28
    assert answer["organization_id"] == answer["project_id"] == "1"
    numeric_id = answer["id"]
    old_track = """mutation addTrackProperties($session_id: ID!, $properties_object: Any) {
      addTrackProperties(session_id: $session_id, properties_object: $properties_object) }"""
    response = gql(
        client, old_track, {"session_id": numeric_id, "properties_object": {"plan": "pro"}}
    )
    _ok(response, "addTrackProperties", answer["secure_id"])
    assert ("track", "plan", "pro") in _fields(server, answer["secure_id"])


# -- identify, properties, feedback ------------------------------------------------------------


def test_identify_stores_the_user_and_is_idempotent(client: httpx.Client, server: Server) -> None:
    secure_id = init_session(client)
    variables = {
        "session_secure_id": secure_id,
        "user_identifier": "ada@example.com",
        "user_object": {"plan": "pro", "seats": "3", "nested": {"a": 1}},
    }
    for _ in range(2):
        _ok(
            gql(client, IDENTIFY_DOC, variables, "identifySession"),
            "identifySession",
            "ada@example.com",
        )
    record = _record(server, secure_id)
    assert record.session.identifier == "ada@example.com"
    assert json.loads(record.session.user_object) == variables["user_object"]
    assert sorted((f.kind, f.key, f.value) for f in record.fields) == [
        ("user", "email", "ada@example.com"),
        ("user", "identifier", "ada@example.com"),
        ("user", "nested", '{"a":1}'),
        ("user", "plan", "pro"),
        ("user", "seats", "3"),
    ]


def test_identify_accepts_a_numeric_identifier_like_highlight(
    client: httpx.Client, server: Server
) -> None:
    secure_id = init_session(client)
    response = gql(client, IDENTIFY_DOC, {"session_secure_id": secure_id, "user_identifier": 12345})
    _ok(response, "identifySession", "12345")
    assert _record(server, secure_id).session.identifier == "12345"


@pytest.mark.parametrize("user_object", [["a"], "text", 3])
def test_identify_refuses_a_user_object_that_is_not_an_object(
    client: httpx.Client, server: Server, user_object: Any
) -> None:
    secure_id = init_session(client)
    response = gql(
        client,
        IDENTIFY_DOC,
        {"session_secure_id": secure_id, "user_identifier": "u", "user_object": user_object},
    )
    assert error_codes(response) == ["BAD_USER_INPUT"]
    assert response.json()["errors"][0]["path"] == ["identifySession"]
    assert "user_object" in response.json()["errors"][0]["message"]
    assert _record(server, secure_id).session.identifier is None


@pytest.mark.parametrize(
    ("document", "operation", "field", "kind"),
    [
        (PROPERTIES_DOC, "addSessionProperties", "addSessionProperties", "session"),
        (TRACK_DOC, "addTrackProperties", "addTrackProperties", "track"),
    ],
)
def test_properties_are_stored_by_kind_once(
    client: httpx.Client, server: Server, document: str, operation: str, field: str, kind: str
) -> None:
    secure_id = init_session(client)
    variables = {
        "session_secure_id": secure_id,
        "properties_object": {"referrer": "https://ref.example/", "reload": True, "empty": ""},
    }
    for _ in range(2):
        _ok(gql(client, document, variables, operation), field, secure_id)
    assert sorted((f.kind, f.key, f.value) for f in _record(server, secure_id).fields) == [
        (kind, "referrer", "https://ref.example/"),
        (kind, "reload", "true"),
    ]


def test_feedback_is_stored_once(client: httpx.Client, server: Server) -> None:
    secure_id = init_session(client)
    variables = {
        "session_secure_id": secure_id,
        "timestamp": "2026-11-26T03:41:22.973Z",
        "verbatim": "checkout was slow",
        "user_email": "ada@example.com",
        "user_name": "Ada",
    }
    for _ in range(2):
        _ok(
            gql(client, FEEDBACK_DOC, variables, "addSessionFeedback"),
            "addSessionFeedback",
            secure_id,
        )
    feedback = _record(server, secure_id).feedback
    assert [(f.verbatim, f.user_name, f.user_email, f.timestamp) for f in feedback] == [
        ("checkout was slow", "Ada", "ada@example.com", 1795664482973)
    ]


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        (IDENTIFY_DOC, {"user_identifier": "u"}),
        (PROPERTIES_DOC, {"properties_object": {"a": "b"}}),
        (TRACK_DOC, {"properties_object": {"a": "b"}}),
        (FEEDBACK_DOC, {"verbatim": "v", "timestamp": "2026-11-26T03:41:22Z"}),
    ],
)
def test_operations_on_an_unknown_session_are_refused(
    client: httpx.Client, document: str, variables: dict[str, Any]
) -> None:
    response = gql(client, document, {"session_secure_id": "no-such-session", **variables})
    assert response.status_code == 200
    assert response.json()["data"] is None
    assert error_codes(response) == ["NOT_FOUND"]
    assert "no-such-session" in response.json()["errors"][0]["message"]


# -- pushes ------------------------------------------------------------------------------------


def test_a_push_is_stored_as_received(client: httpx.Client, server: Server) -> None:
    secure_id = init_session(client)
    data = compress(make_payload(messages=[{"type": "log", "value": ["hi"], "time": 1}]), mtime=7)
    _ok(push(client, secure_id, "1795664480408", data), "pushSessionEvents", None)
    [stored] = _record(server, secure_id).payloads
    assert stored.payload_id == 1795664480408
    assert stored.body == gzip.compress(gzip.decompress(stored.body), mtime=7)
    assert base64.b64encode(stored.body).decode() == data
    assert stored.summary.event_count == 1


def test_a_retried_push_is_stored_once_even_if_compressed_again(
    client: httpx.Client, server: Server
) -> None:
    secure_id = init_session(client)
    payload = make_payload()
    for mtime in (1, 2, 3):  # a client that re-compresses on retry: same content, new bytes
        _ok(push(client, secure_id, 5, compress(payload, mtime=mtime)), "pushSessionEvents", None)
    assert [p.payload_id for p in _record(server, secure_id).payloads] == [5]


def test_a_different_payload_reusing_an_id_is_kept(client: httpx.Client, server: Server) -> None:
    secure_id = init_session(client)
    push(client, secure_id, 1, make_payload(events=[meta_event(sid=1)]))
    push(client, secure_id, 1, make_payload(events=[meta_event(sid=2)]))
    assert [p.payload_id for p in _record(server, secure_id).payloads] == [1, 1]


def test_out_of_order_pushes_are_all_kept_in_payload_id_order(
    client: httpx.Client, server: Server
) -> None:
    secure_id = init_session(client)
    for payload_id in (1795664482413, 1795664480408, 1795664486000, 7):
        push(client, secure_id, payload_id, make_payload(events=[meta_event(ts=payload_id)]))
    record = _record(server, secure_id)
    assert [p.payload_id for p in record.payloads] == [
        7,
        1795664480408,
        1795664482413,
        1795664486000,
    ]
    assert [p["events"]["events"][0]["timestamp"] for p in decoded_payloads(record)] == [
        7,
        1795664480408,
        1795664482413,
        1795664486000,
    ]


@pytest.mark.parametrize("payload_id", [3, "3", 3.0])
def test_payload_ids_arrive_as_strings_or_numbers(
    client: httpx.Client, server: Server, payload_id: Any
) -> None:
    secure_id = init_session(client)
    for operation, document in (
        ("PushSessionEvents", PUSH_DOC),
        ("PushPayloadCompressed", COMPRESSED_DOC),
    ):
        response = gql(
            client,
            document,
            {
                "session_secure_id": secure_id,
                "payload_id": payload_id,
                "data": compress(make_payload()),
            },
            operation,
        )
        assert "errors" not in response.json(), response.json()
    assert [p.payload_id for p in _record(server, secure_id).payloads] == [3]


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ("not base64!", ["data is not valid base64"]),
        ("aGVsbG8=", ["data is not gzip data"]),
        (compress(b"{not json"), ["data is not a valid payload"]),
        (
            compress(b'{"events": {"events": []}, "messages": "\xff"}'),
            ["data is not valid UTF-8 text"],
        ),
        # What is wrong with a value is told in msgspec's words, which change between its
        # releases; footlight's part is the argument and the path to the value, from there.
        (compress([1, 2]), ["data is not a valid payload"]),
        (compress({"messages": "{}"}), ["data is not a valid payload", "`events`"]),
        (
            compress({"events": {"events": [{"type": "x", "timestamp": 1, "data": {}}]}}),
            ["data is not a valid payload", "`data.events.events[0].type`"],
        ),
        (
            compress({"events": {"events": [{"type": 3, "timestamp": 1, "data": [1]}]}}),
            ["data is not a valid payload", "`data.events.events[0].data`"],
        ),
        (compress(make_payload(messages="nope")), ["messages is not a valid payload"]),  # type: ignore[arg-type]
        (
            compress({**make_payload(), "messages": '{"messages": 3}'}),
            ["messages is not a valid payload", "`messages.messages`"],
        ),
        (compress({**make_payload(), "resources": "[]"}), ["resources is not a valid payload"]),
        (
            compress({**make_payload(), "errors": [{"event": 1}]}),
            ["data is not a valid payload", "`data.errors[0].event`"],
        ),
        (
            compress(
                b'{"events": {"events": [{"type": 2, "timestamp": 1, "data": {"a": '
                + b"[" * 20_000
                + b"]" * 20_000
                + b"}}]}}"
            ),
            ["data: JSON is nested too deeply"],
        ),
        (base64_of(gzip.compress(b"{}", mtime=0)[:-4]), ["data is truncated gzip data"]),
    ],
)
def test_a_bad_payload_is_refused_naming_the_problem_and_writes_nothing(
    client: httpx.Client, server: Server, data: str, said: list[str]
) -> None:
    secure_id = init_session(client)
    response = push(client, secure_id, 1, data)
    assert response.status_code == 200
    assert error_codes(response) == ["BAD_USER_INPUT"]
    message = response.json()["errors"][0]["message"]
    for words in said:
        assert words in message
    assert response.json()["errors"][0]["path"] == ["pushSessionEvents"]
    assert _record(server, secure_id).payloads == []


def test_a_push_for_an_unknown_session_is_refused(client: httpx.Client) -> None:
    response = push(client, "no-such-session", 1, make_payload())
    assert error_codes(response) == ["NOT_FOUND"]


def test_a_non_integer_payload_id_is_refused(client: httpx.Client, server: Server) -> None:
    secure_id = init_session(client)
    response = gql(
        client,
        COMPRESSED_DOC,
        {"session_secure_id": secure_id, "payload_id": "abc", "data": compress(make_payload())},
    )
    assert error_codes(response) == ["BAD_USER_INPUT"]
    assert "payload_id" in response.json()["errors"][0]["message"]
    assert _record(server, secure_id).payloads == []


@pytest.mark.parametrize("timestamp", [1e19, -1e19, 1e300])
def test_an_event_time_outside_the_integer_range_is_refused(
    client: httpx.Client, server: Server, timestamp: float
) -> None:
    secure_id = init_session(client)
    payload = make_payload(events=[{**meta_event(), "timestamp": timestamp}])
    response = push(client, secure_id, 1, payload)
    assert error_codes(response) == ["BAD_USER_INPUT"]
    assert "event timestamp is outside" in response.json()["errors"][0]["message"]
    assert _record(server, secure_id).payloads == []


def test_a_gzip_stream_of_many_members_is_refused(client: httpx.Client, server: Server) -> None:
    # Each extra member makes inflating copy the rest of the stream again: thousands of
    # empty members cost seconds of CPU on every read of the payload.
    secure_id = init_session(client)
    members = gzip.compress(json.dumps(make_payload()).encode()) + gzip.compress(b"") * 16
    response = push(client, secure_id, 1, base64_of(members))
    assert error_codes(response) == ["BAD_USER_INPUT"]
    assert "more than 16 gzip members" in response.json()["errors"][0]["message"]
    assert _record(server, secure_id).payloads == []
    few = gzip.compress(json.dumps(make_payload()).encode()) + gzip.compress(b"") * 15
    assert push(client, secure_id, 2, base64_of(few)).json() == {
        "data": {"pushSessionEvents": None}
    }


def test_an_overlong_project_id_is_refused_at_once_and_not_echoed_whole(
    client: httpx.Client,
) -> None:
    # A hashid decodes in time quadratic in its length: 100 KB took seconds on the event
    # loop. (The request must fail on the project, not on another limit, to show that.)
    key = "jklmnopqrvwxyz" * 7_000
    response = gql(client, INIT_DOC, init_variables(new_secure_id(), project=key))
    assert error_codes(response) == ["NOT_FOUND"]
    message = response.json()["errors"][0]["message"]
    assert message.startswith("unknown project 'jklmnop")
    assert len(message) < 400
    assert f"({len(key) + 2} characters)" in message


def test_a_mutation_of_several_fields_is_refused_and_writes_nothing(
    client: httpx.Client, server: Server
) -> None:
    secure_id = init_session(client)
    document = f"""mutation {{
      a: addSessionProperties(session_secure_id: "{secure_id}",
        properties_object: {{aliased: "written"}})
      b: addSessionProperties(session_secure_id: "no-such-session",
        properties_object: {{aliased: "written"}})
    }}"""
    response = gql(client, document, {})
    assert error_codes(response) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "exactly one field" in response.json()["errors"][0]["message"]
    assert _fields(server, secure_id) == set()


# -- legacy pushPayload ------------------------------------------------------------------------


def _legacy_variables(secure_id: str, **extra: Any) -> dict[str, Any]:
    resources = [
        {"name": f"https://cdn.example/{i}.js", "initiatorType": "script"} for i in range(5)
    ]
    messages = [{"type": "log", "value": [f"m{i}"], "time": i, "trace": []} for i in range(3)]
    payload = make_payload(
        events=[
            meta_event(),
            {"type": 3, "data": {"source": 2, "type": 2, "id": 4}, "timestamp": 2, "_sid": 2},
        ],
        messages=messages,
        resources=resources,
        errors=[
            {
                "event": "boom",
                "type": "window.onerror",
                "url": "https://app.example/",
                "source": "app.js",
                "lineNumber": "10",
                "columnNumber": 5,
                "stackTrace": [],
                "timestamp": "2026-11-26T03:41:21.546Z",
            }
        ],
    )
    return {"session_secure_id": secure_id, "payload_id": "4", **payload, **extra}


def test_legacy_push_payload_stores_all_of_it(client: httpx.Client, server: Server) -> None:
    secure_id = init_session(client)
    response = gql(client, LEGACY_PUSH_DOC, _legacy_variables(secure_id), "PushPayload")
    _ok(response, "pushPayload", 2)
    [stored] = decoded_payloads(_record(server, secure_id))
    assert len(json.loads(stored["resources"])["resources"]) == 5
    assert len(json.loads(stored["messages"])["messages"]) == 3
    assert stored["errors"][0]["event"] == "boom"
    assert stored["errors"][0]["lineNumber"] == 10  # a numeric string, coerced like Go does
    assert len(stored["events"]["events"]) == 2


def test_an_unload_beacon_without_operation_name_is_stored(
    client: httpx.Client, server: Server
) -> None:
    secure_id = init_session(client)
    body = {"query": LEGACY_PUSH_DOC, "variables": _legacy_variables(secure_id, is_beacon=True)}
    response = client.post(
        "/",
        content=msgspec.json.encode(body),
        headers={"content-type": "application/json", "origin": "https://shop.example"},
    )
    assert response.json() == {"data": {"pushPayload": 2}}
    assert response.headers["access-control-allow-credentials"] == "true"
    [stored] = decoded_payloads(_record(server, secure_id))
    assert stored["is_beacon"] is True


def test_legacy_push_payload_with_non_object_event_data_writes_nothing(
    client: httpx.Client, server: Server
) -> None:
    secure_id = init_session(client)
    variables = _legacy_variables(secure_id)
    variables["events"]["events"][1]["data"] = "text"
    response = gql(client, LEGACY_PUSH_DOC, variables)
    assert error_codes(response) == ["BAD_USER_INPUT"]
    assert "events.events[1].data must be a JSON object" in response.json()["errors"][0]["message"]
    assert _record(server, secure_id).payloads == []


def test_legacy_push_payload_with_an_event_time_out_of_range_writes_nothing(
    client: httpx.Client, server: Server
) -> None:
    secure_id = init_session(client)
    variables = _legacy_variables(secure_id)
    variables["events"]["events"][1]["timestamp"] = 1e300
    response = gql(client, LEGACY_PUSH_DOC, variables)
    assert error_codes(response) == ["BAD_USER_INPUT"]
    assert "event timestamp is outside" in response.json()["errors"][0]["message"]
    assert _record(server, secure_id).payloads == []


# -- metrics, backend errors, no-ops, queries -------------------------------------------------


def test_metrics_are_stored_all_or_nothing(client: httpx.Client, server: Server) -> None:
    secure_id = init_session(client)
    metric = {
        "session_secure_id": secure_id,
        "name": "LCP",
        "value": 1.5,
        "category": "WebVital",
        "timestamp": "2026-11-26T03:41:22Z",
        "tags": [{"name": "page", "value": "/"}],
    }
    for _ in range(2):
        _ok(
            gql(client, METRICS_DOC, {"metrics": [metric, {**metric, "name": "FID"}]}),
            "pushMetrics",
            2,
        )
    assert sorted(m.name for m in _record(server, secure_id).metrics) == ["FID", "LCP"]
    stray = {**metric, "session_secure_id": "no-such-session", "name": "CLS"}
    refused = gql(client, METRICS_DOC, {"metrics": [{**metric, "name": "TTFB"}, stray]})
    assert error_codes(refused) == ["NOT_FOUND"]
    assert sorted(m.name for m in _record(server, secure_id).metrics) == ["FID", "LCP"]


def test_numeric_strings_are_accepted_for_floats_like_highlight(
    client: httpx.Client, server: Server
) -> None:
    secure_id = init_session(client)
    metric = {
        "session_secure_id": secure_id,
        "name": "CLS",
        "value": "0.25",
        "timestamp": "2026-11-26T03:41:22Z",
    }
    _ok(gql(client, METRICS_DOC, {"metrics": [metric]}), "pushMetrics", 1)
    assert [(m.name, m.value) for m in _record(server, secure_id).metrics] == [("CLS", 0.25)]
    not_a_number = gql(client, METRICS_DOC, {"metrics": [{**metric, "value": "a lot"}]})
    assert error_codes(not_a_number) == ["GRAPHQL_VALIDATION_FAILED"]


def _backend_error(secure_id: str | None, event: str) -> dict[str, Any]:
    return {
        "session_secure_id": secure_id,
        "request_id": "r1",
        "event": event,
        "type": "Backend",
        "url": "/api",
        "source": "server.py",
        "stackTrace": '[{"fileName": "server.py"}]',
        "timestamp": "2026-11-26T03:41:22Z",
        "service": {"name": "api", "version": "1"},
        "environment": "production",
    }


def _backend_errors(server: Server, project_id: int) -> list[str]:
    errors = with_store(server.data_dir, lambda store: backend_errors(store, project_id))
    return [e.event for e in errors]


def test_backend_errors_are_stored_each_exactly_once(client: httpx.Client, server: Server) -> None:
    secure_id = init_session(client)
    tag = new_secure_id()
    errors = [
        _backend_error(secure_id, f"{tag} one"),
        _backend_error(secure_id, f"{tag} two"),
        _backend_error(None, f"{tag} three"),
    ]
    for _ in range(2):
        _ok(
            gql(client, BACKEND_DOC, {"project_id": "1jdkoe52", "errors": errors}),
            "pushBackendPayload",
            None,
        )
    stored = [e for e in _backend_errors(server, 1) if e.startswith(tag)]
    assert sorted(stored) == [f"{tag} one", f"{tag} three", f"{tag} two"]


def test_backend_errors_are_all_or_nothing(client: httpx.Client, server: Server) -> None:
    tag = new_secure_id()
    errors = [_backend_error(None, f"{tag} kept?"), _backend_error("no-such-session", f"{tag} x")]
    response = gql(client, BACKEND_DOC, {"project_id": "1", "errors": errors})
    assert error_codes(response) == ["NOT_FOUND"]
    orphan = gql(client, BACKEND_DOC, {"errors": [_backend_error(None, f"{tag} orphan")]})
    assert error_codes(orphan) == ["BAD_USER_INPUT"]
    assert [e for e in _backend_errors(server, 1) if e.startswith(tag)] == []


def test_mark_backend_setup_and_ignore_answer_null(client: httpx.Client) -> None:
    _ok(
        gql(client, 'mutation { markBackendSetup(project_id: "1", type: "x") }'),
        "markBackendSetup",
        None,
    )
    _ok(gql(client, "query Ignore($id: ID!) { ignore(id: $id) }", {"id": "1"}), "ignore", None)


def test_sampling_says_keep_everything(client: httpx.Client) -> None:
    response = gql(client, SAMPLING, {"organization_verbose_id": "1jdkoe52"}, "GetSamplingConfig")
    _ok(response, "sampling", {"spans": None, "logs": None})


def test_real_graphql_semantics_aliases_fragments_and_introspection(
    client: httpx.Client, server: Server
) -> None:
    secure_id = new_secure_id()
    document = """
      mutation Start($v: String!, $s: String!) {
        first: initializeSession(session_secure_id: $s, organization_verbose_id: $v,
          enable_strict_privacy: false, enable_recording_network_contents: false,
          clientVersion: "1", firstloadVersion: "1", clientConfig: "{}",
          environment: "prod", fingerprint: "f", client_id: "c") { ...Ids }
      }
      fragment Ids on InitializeSessionResponse { secure_id project: project_id }
    """
    response = gql(client, document, {"v": "1jdkoe52", "s": secure_id}, "Start")
    _ok(response, "first", {"secure_id": secure_id, "project": "1"})
    schema = gql(client, "{ __schema { mutationType { fields { name } } } }").json()
    names = {f["name"] for f in schema["data"]["__schema"]["mutationType"]["fields"]}
    assert {"initializeSession", "pushSessionEvents", "pushPayload", "addTrackProperties"} <= names


def test_every_documented_operation_exists(client: httpx.Client) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    schema = gql(
        client, "{ __schema { mutationType { fields { name } } queryType { fields { name } } } }"
    )
    data = schema.json()["data"]["__schema"]
    served = {f["name"] for f in data["mutationType"]["fields"] + data["queryType"]["fields"]}
    for name in served:
        assert f"`{name}`" in readme, f"{name} is served but not documented in the README"
