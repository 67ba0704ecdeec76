"""What one call may make footlight keep: counts and names refused, text cut and marked.

A server with small limits (set through the documented environment variables) makes each
limit cheap to reach; one test runs the defaults with what the real SDK may send. Every
refusal names its setting and writes nothing; every cut keeps the rest of the call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from footlight.ingest.bounds import cut
from tests.helpers.graphql import (
    BACKEND_DOC,
    FEEDBACK_DOC,
    IDENTIFY_DOC,
    INIT_DOC,
    METRICS_DOC,
    PROPERTIES_DOC,
    TRACK_DOC,
    error_codes,
    gql,
    init_session,
    init_variables,
    make_payload,
    new_secure_id,
    push,
)
from tests.helpers.inspection import backend_errors
from tests.helpers.servers import Server, client_of, http_client, running
from tests.helpers.store import db_rows, read_session, with_store

KEYS, KEY_BYTES, VALUE_BYTES, PER_SESSION, TEXT_BYTES, ITEMS = 8, 16, 64, 20, 256, 5
LIMITS = {
    "FOOTLIGHT_MAX_PROPERTIES_PER_CALL": str(KEYS),
    "FOOTLIGHT_MAX_PROPERTY_KEY_BYTES": str(KEY_BYTES),
    "FOOTLIGHT_MAX_PROPERTY_VALUE_BYTES": str(VALUE_BYTES),
    "FOOTLIGHT_MAX_PROPERTIES_PER_SESSION": str(PER_SESSION),
    "FOOTLIGHT_MAX_TEXT_BYTES": str(TEXT_BYTES),
    "FOOTLIGHT_MAX_ITEMS_PER_CALL": str(ITEMS),
    "FOOTLIGHT_MAX_SECURE_ID_CHARS": "40",
}


@pytest.fixture(scope="module")
def bounded(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[Server]:
    with running(tmp_path_factory, "bounds", backend, LIMITS) as server:
        yield server


@pytest.fixture
def client(bounded: Server) -> Iterator[httpx.Client]:
    with client_of(bounded) as c:
        yield c


def _record(server: Server, secure_id: str) -> Any:
    record = read_session(server.data_dir, secure_id)
    assert record is not None
    return record


def _refused(response: httpx.Response, field: str, *words: str) -> None:
    assert response.status_code == 200, response.text
    assert error_codes(response) == ["BAD_USER_INPUT"], response.text
    error = response.json()["errors"][0]
    assert error["path"] == [field]
    for word in words:
        assert word in error["message"], error["message"]


def _is_cut(stored: str, sent: str, limit: int) -> None:
    assert len(stored.encode()) <= limit
    assert stored.endswith(" bytes]")
    assert "…[cut " in stored
    kept = stored[: stored.rindex("…[cut ")]
    assert sent.startswith(kept)
    assert len(kept) > 0
    dropped = int(stored[stored.rindex("…[cut ") + 6 : -len(" bytes]")])
    assert dropped == len(sent.encode()) - len(kept.encode())


# -- the cut itself ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["a" * 64, "a" * 65, "a" * 10_000, "é" * 40, "日本語" * 30, "🙂" * 17, "a" + "🙂" * 100],
)
def test_a_cut_fits_its_limit_keeps_whole_characters_and_counts_what_it_dropped(
    text: str,
) -> None:
    stored = cut(text, 64)
    if len(text.encode()) <= 64:
        assert stored is text
    else:
        _is_cut(stored, text, 64)


# -- properties: counts and keys refused, values cut, a session's total capped ------------------


@pytest.mark.parametrize(
    ("document", "field", "argument", "extra"),
    [
        (IDENTIFY_DOC, "identifySession", "user_object", {"user_identifier": "ada"}),
        (PROPERTIES_DOC, "addSessionProperties", "properties_object", {}),
        (TRACK_DOC, "addTrackProperties", "properties_object", {}),
    ],
)
def test_more_keys_than_the_limit_are_refused_and_nothing_is_written(
    client: httpx.Client,
    bounded: Server,
    document: str,
    field: str,
    argument: str,
    extra: dict[str, Any],
) -> None:
    secure_id = init_session(client)
    too_many = {f"k{i}": "v" for i in range(KEYS + 1)}
    response = gql(client, document, {"session_secure_id": secure_id, argument: too_many, **extra})
    _refused(response, field, f"{KEYS + 1} keys", "limit: max_properties_per_call")
    long_key = {"ok": "v", "k" * (KEY_BYTES + 1): "v"}
    response = gql(client, document, {"session_secure_id": secure_id, argument: long_key, **extra})
    _refused(response, field, "limit: max_property_key_bytes")
    record = _record(bounded, secure_id)
    assert record.fields == []
    assert record.session.identifier is None
    exactly = {f"k{i}": "v" for i in range(KEYS - 1)} | {"é" * (KEY_BYTES // 2): "v"}
    response = gql(client, document, {"session_secure_id": secure_id, argument: exactly, **extra})
    assert "errors" not in response.json(), response.text


def test_long_values_and_identifiers_are_cut_and_marked_and_the_rest_is_kept(
    client: httpx.Client, bounded: Server
) -> None:
    secure_id = init_session(client)
    identifier = "user-" + "x" * 500
    long_value = "https://ref.example/?" + "q" * 300
    nested = {"deep": ["list"] * 40}
    user_object = {"plan": "pro", "referrer": long_value, "nested": nested, "n": 3}
    response = gql(
        client,
        IDENTIFY_DOC,
        {"session_secure_id": secure_id, "user_identifier": identifier, "user_object": user_object},
    )
    assert response.json() == {"data": {"identifySession": identifier}}
    record = _record(bounded, secure_id)
    fields = {f.key: f.value for f in record.fields}
    assert fields["plan"] == "pro"
    assert fields["n"] == "3"
    _is_cut(fields["referrer"], long_value, VALUE_BYTES)
    _is_cut(fields["nested"], json.dumps(nested, separators=(",", ":")), VALUE_BYTES)
    _is_cut(fields["identifier"], identifier, VALUE_BYTES)
    _is_cut(record.session.identifier, identifier, VALUE_BYTES)
    kept = json.loads(record.session.user_object)
    assert kept["plan"] == "pro"
    assert kept["n"] == 3
    assert kept["referrer"] == fields["referrer"]


def test_a_session_keeps_at_most_its_limit_of_properties(
    client: httpx.Client, bounded: Server
) -> None:
    """A field's key includes its value, so new values grow a session's list forever unless
    the session's total is capped; a call that would pass the cap writes none of its fields."""
    secure_id = init_session(client)
    for call in range(PER_SESSION // 4):
        properties = {f"k{i}": f"value {call}" for i in range(4)}
        response = gql(
            client,
            PROPERTIES_DOC,
            {"session_secure_id": secure_id, "properties_object": properties},
        )
        assert "errors" not in response.json(), response.text
    # Already present: adds nothing, so it is not refused.
    again = gql(
        client, PROPERTIES_DOC, {"session_secure_id": secure_id, "properties_object": properties}
    )
    assert "errors" not in again.json(), again.text
    for document, field, argument, extra in (
        (PROPERTIES_DOC, "addSessionProperties", "properties_object", {}),
        (TRACK_DOC, "addTrackProperties", "properties_object", {}),
        (IDENTIFY_DOC, "identifySession", "user_object", {"user_identifier": "ada"}),
    ):
        more = {"new": "one more"}
        response = gql(client, document, {"session_secure_id": secure_id, argument: more, **extra})
        _refused(response, field, f"more than {PER_SESSION}", "limit: max_properties_per_session")
    record = _record(bounded, secure_id)
    assert len(record.fields) == PER_SESSION
    assert record.session.identifier is None
    other = init_session(client)
    response = gql(
        client, PROPERTIES_DOC, {"session_secure_id": other, "properties_object": {"a": "b"}}
    )
    assert "errors" not in response.json(), response.text


# -- lists: longer than max_items_per_call refused, before coercion or in the resolver -----------


def _metric(secure_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "session_secure_id": secure_id,
        "name": "LCP",
        "value": 1.5,
        "timestamp": "2026-11-26T03:41:22Z",
        **extra,
    }


def test_too_many_metrics_or_tags_are_refused_and_nothing_is_written(
    client: httpx.Client, bounded: Server
) -> None:
    secure_id = init_session(client)
    metrics = [_metric(secure_id, name=f"m{i}") for i in range(ITEMS + 1)]
    response = gql(client, METRICS_DOC, {"metrics": metrics})
    _refused(response, "pushMetrics", "$metrics has 6 items", "limit: max_items_per_call")
    assert response.json()["data"] is None
    tags = [{"name": f"t{i}", "value": "v"} for i in range(KEYS + 1)]
    response = gql(client, METRICS_DOC, {"metrics": [_metric(secure_id, tags=tags)]})
    _refused(response, "pushMetrics", "tags has 9 tags", "limit: max_properties_per_call")
    # The same lists written into the document instead of variables: refused by ingest.
    literal = ", ".join(
        f'{{session_secure_id: "{secure_id}", name: "m{i}", value: 1,'
        ' timestamp: "2026-11-26T03:41:22Z"}'
        for i in range(ITEMS + 1)
    )
    response = gql(client, f"mutation {{ pushMetrics(metrics: [{literal}]) }}")
    _refused(response, "pushMetrics", "metrics has 6 items", "limit: max_items_per_call")
    assert _record(bounded, secure_id).metrics == []
    long = "g" * 300
    response = gql(
        client,
        METRICS_DOC,
        {"metrics": [_metric(secure_id, group=long, tags=[{"name": "page", "value": long}])]},
    )
    assert response.json() == {"data": {"pushMetrics": 1}}, response.text
    (stored,) = _record(bounded, secure_id).metrics
    _is_cut(stored.group, long, VALUE_BYTES)
    _is_cut(dict(stored.tags)["page"], long, VALUE_BYTES)


def _backend_error(secure_id: str | None, event: str, **extra: Any) -> dict[str, Any]:
    return {
        "session_secure_id": secure_id,
        "event": event,
        "type": "Backend",
        "url": "/api",
        "source": "server.py",
        "stackTrace": "Traceback: ...",
        "timestamp": "2026-11-26T03:41:22Z",
        "service": {"name": "api", "version": "1"},
        **extra,
    }


def test_backend_errors_too_many_are_refused_their_long_text_cut(
    client: httpx.Client, bounded: Server
) -> None:
    tag = new_secure_id()
    errors = [_backend_error(None, f"{tag} {i}") for i in range(ITEMS + 1)]
    response = gql(client, BACKEND_DOC, {"project_id": "1", "errors": errors})
    _refused(response, "pushBackendPayload", "has 6 items", "limit: max_items_per_call")
    assert response.json()["data"] == {"pushBackendPayload": None}
    message = f"{tag} " + "m" * 1000
    stack = "  File x.py\n" * 200
    long_url = "/api/" + "u" * 200
    error = _backend_error(None, message, stackTrace=stack, payload="p" * 999, url=long_url)
    response = gql(client, BACKEND_DOC, {"project_id": "1", "errors": [error]})
    assert response.json() == {"data": {"pushBackendPayload": None}}, response.text
    (stored,) = [
        e
        for e in with_store(bounded.data_dir, lambda store: backend_errors(store, 1))
        if e.event.startswith(tag)
    ]
    _is_cut(stored.event, message, TEXT_BYTES)
    _is_cut(stored.stack_trace, stack, TEXT_BYTES)
    assert stored.payload is not None
    _is_cut(stored.payload, "p" * 999, TEXT_BYTES)
    _is_cut(stored.url, long_url, VALUE_BYTES)
    assert (stored.type, stored.source, stored.service_name) == ("Backend", "server.py", "api")


def test_feedback_text_is_cut_and_the_rest_kept(client: httpx.Client, bounded: Server) -> None:
    secure_id = init_session(client)
    verbatim = "The checkout page " + "is slow " * 100
    response = gql(
        client,
        FEEDBACK_DOC,
        {
            "session_secure_id": secure_id,
            "verbatim": verbatim,
            "timestamp": "2026-11-26T03:41:22.973Z",
            "user_name": "Ada",
            "user_email": "ada@example.com",
        },
    )
    assert response.json() == {"data": {"addSessionFeedback": secure_id}}
    (feedback,) = _record(bounded, secure_id).feedback
    _is_cut(feedback.verbatim, verbatim, VALUE_BYTES)
    assert (feedback.user_name, feedback.user_email) == ("Ada", "ada@example.com")


def test_initialize_session_cuts_its_metadata_and_refuses_too_many_domains(
    client: httpx.Client, bounded: Server
) -> None:
    secure_id = new_secure_id()
    config = json.dumps({"networkRecording": {"urlBlocklist": ["https://x.example/"] * 40}})
    response = gql(
        client,
        INIT_DOC,
        init_variables(
            secure_id,
            clientConfig=config,
            environment="e" * 100,
            appVersion="v" * 100,
            client_id="c" * 100,
            network_recording_domains=[f"d{i}.example" for i in range(ITEMS + 1)],
        ),
        "initializeSession",
    )
    _refused(response, "initializeSession", "has 6 items", "limit: max_items_per_call")
    assert (
        db_rows(bounded.data_dir, "SELECT 1 FROM sessions WHERE secure_id = ?", (secure_id,)) == []
    )
    response = gql(
        client,
        INIT_DOC,
        init_variables(
            secure_id,
            clientConfig=config,
            environment="e" * 100,
            appVersion="v" * 100,
            client_id="c" * 100,
            network_recording_domains=["api.example", "x" * 100],
        ),
        "initializeSession",
        headers={"user-agent": "Mozilla/5.0 " + "u" * 300},
    )
    assert "errors" not in response.json(), response.text
    ((client_config, environment, app_version, client_id, user_agent, domains),) = db_rows(
        bounded.data_dir,
        "SELECT client_config, environment, app_version, client_id, user_agent,"
        " network_recording_domains FROM sessions WHERE secure_id = ?",
        (secure_id,),
    )
    _is_cut(client_config, config, TEXT_BYTES)
    _is_cut(environment, "e" * 100, VALUE_BYTES)
    _is_cut(app_version, "v" * 100, VALUE_BYTES)
    _is_cut(client_id, "c" * 100, VALUE_BYTES)
    _is_cut(user_agent, "Mozilla/5.0 " + "u" * 300, VALUE_BYTES)
    first, second = json.loads(domains)
    assert first == "api.example"
    _is_cut(second, "x" * 100, VALUE_BYTES)


# -- secure ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "secure_id",
    ["../../x", "a/b", "a\x00b", "a\nb", "a b", "\x1b[31mred", "é" * 10, "x" * 41, "x" * 1_000_000],
)
def test_secure_ids_other_than_letters_digits_dash_underscore_are_refused(
    client: httpx.Client, bounded: Server, secure_id: str
) -> None:
    sessions = db_rows(bounded.data_dir, "SELECT count(*) FROM sessions")
    response = gql(client, INIT_DOC, init_variables(secure_id), "initializeSession")
    _refused(response, "initializeSession", "session_secure_id")
    message = response.json()["errors"][0]["message"]
    assert len(message) < 300
    assert "\x1b" not in message
    assert "\x00" not in message
    assert db_rows(bounded.data_dir, "SELECT count(*) FROM sessions") == sessions
    for document, field, extra in (
        (IDENTIFY_DOC, "identifySession", {"user_identifier": "u"}),
        (PROPERTIES_DOC, "addSessionProperties", {"properties_object": {"a": "b"}}),
    ):
        refused = gql(client, document, {"session_secure_id": secure_id, **extra})
        _refused(refused, field, "session_secure_id")
    _refused(push(client, secure_id, 1, make_payload()), "pushSessionEvents", "session_secure_id")
    metric = gql(client, METRICS_DOC, {"metrics": [_metric(secure_id)]})
    _refused(metric, "pushMetrics", "metrics[0].session_secure_id")
    error = gql(client, BACKEND_DOC, {"errors": [_backend_error(secure_id, "e")]})
    _refused(error, "pushBackendPayload", "errors[0].session_secure_id")


@pytest.mark.parametrize(
    "secure_id",
    [
        "hrOIqIHeums7VmNIhydrOk1atr8K",  # the SDK's: 28 base62 characters
        "0f8fad5b-d9cb-469f-a165-70867728950e",  # a UUID
        "my_session-1",
        "x" * 40,
    ],
)
def test_secure_ids_the_sdks_make_are_accepted(client: httpx.Client, secure_id: str) -> None:
    assert init_session(client, secure_id) == secure_id
    response = push(client, secure_id, 1, make_payload())
    assert response.json() == {"data": {"pushSessionEvents": None}}


# -- the defaults and the real SDK -------------------------------------------------------------


def test_what_the_sdk_may_send_is_kept_whole_or_cut_never_refused(
    client: httpx.Client, server: Server
) -> None:
    """The SDK cuts property values at 2,000 characters. ASCII ones are kept whole; 2,000
    characters of CJK (6,000 bytes) are cut to 2 KiB on both stores. PostgreSQL refused such
    a value before (its index entries hold at most 2,704 bytes), failing the whole identify."""
    with http_client(base_url=server.url, timeout=30) as sdk:
        secure_id = init_session(sdk)
        ascii_value = "a" * 2000
        cjk_value = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(2000))
        response = gql(
            sdk,
            IDENTIFY_DOC,
            {
                "session_secure_id": secure_id,
                "user_identifier": "ada@example.com",
                "user_object": {"ascii": ascii_value, "cjk": cjk_value, "plan": "pro"},
            },
            "identifySession",
        )
        assert response.json() == {"data": {"identifySession": "ada@example.com"}}, response.text
    fields = {f.key: f.value for f in _record(server, secure_id).fields}
    assert fields["ascii"] == ascii_value
    assert fields["plan"] == "pro"
    _is_cut(fields["cjk"], cjk_value, 2048)


def test_huge_lists_are_refused_before_graphql_coerces_them(
    server: Server,
) -> None:
    """graphql-core coerces list variables item by item on the event loop (100,000 metrics
    took 3.5 s); with the default limits they are counted first, and nothing is written."""
    with http_client(base_url=server.url, timeout=60) as client:
        secure_id = init_session(client)
        metrics = [_metric(secure_id)] * 100_000
        response = gql(client, METRICS_DOC, {"metrics": metrics})
        _refused(response, "pushMetrics", "$metrics has 100000 items", "more than 1000")
        errors = [_backend_error(secure_id, "e")] * 50_000
        response = gql(client, BACKEND_DOC, {"project_id": "1", "errors": errors})
        _refused(response, "pushBackendPayload", "$errors has 50000 items", "more than 1000")
    record = _record(server, secure_id)
    assert record.metrics == []
    assert db_rows(
        server.data_dir,
        "SELECT count(*) FROM backend_errors WHERE session_secure_id = ?",
        (secure_id,),
    ) == [(0,)]
