"""The OpenAPI document of the read API and the routes it describes, kept in step.

Proven here:

* `/api/v1/openapi.json` is an OpenAPI 3.1 document in shape (version, info, paths, unique
  operation ids, declared path parameters, responses), and each schema in it is a valid
  JSON Schema (2020-12, OpenAPI 3.1's dialect);
* every Starlette route of `footlight.api.routes.ROUTES` is described (path and method), and
  nothing is described that is not routed;
* every described operation answers 2xx on a real server once its placeholders name a real
  session or error group;
* the answers of every operation, success and error alike (400, 401, 403, 404), validate
  against the response schemas the document declares for them (refs resolved with
  `jsonschema` and `referencing`), and every field a success answer holds is named in the
  document;
* the schemas (generated from the structs the routes encode) allow no field they do not
  name: a real answer given one more field, at its top or deep inside, fails validation and
  the search for undeclared fields.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.routing import Route

from footlight import __version__
from footlight.api.routes import ROUTES
from footlight.store import Project
from tests.helpers.api import get_json
from tests.helpers.cli import create_token
from tests.helpers.events import T0, active_for, click, navigate, page_error, track_event
from tests.helpers.graphql import FEEDBACK_DOC, PROPERTIES_DOC, TRACK_DOC, gql, identify, record
from tests.helpers.otlp import traced_request
from tests.helpers.servers import Server, bearer_client, http_client
from tests.helpers.store import new_project
from tests.helpers.waiting import wait_for_processing

DOCUMENT_URI = "urn:footlight:openapi"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@pytest.fixture(scope="module")
def document(api_server: Server, admin_token: str) -> dict[str, Any]:
    with bearer_client(api_server, admin_token) as api:
        found: dict[str, Any] = get_json(api, "/api/v1/openapi.json")
    return found


def operations_of(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) of every operation the document describes."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def validator(document: dict[str, Any], pointer: str) -> Draft202012Validator:
    """A validator for the schema at `pointer` in the document, its `$ref`s resolved."""
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    ref = f"{DOCUMENT_URI}#{quote(pointer, safe='/~')}"
    return Draft202012Validator({"$ref": ref}, registry=registry)


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def schema_errors(
    document: dict[str, Any], path: str, method: str, status: str, body: Any
) -> list[ValidationError]:
    """Where `body` breaks the schema the document declares for that answer."""
    pointer = (
        f"/paths/{escape(path)}/{method}/responses/{status}/content/{escape('application/json')}"
        "/schema"
    )
    return list(validator(document, pointer).iter_errors(body))


def messages(error: ValidationError) -> Iterator[str]:
    """The error's message and those of the errors under it (why no `anyOf` branch fit)."""
    yield error.message
    for cause in error.context or ():
        yield from messages(cause)


def assert_matches_schema(
    document: dict[str, Any], path: str, method: str, response: httpx.Response
) -> None:
    """The response's JSON validates against what the document declares for its status."""
    declared = document["paths"][path][method]["responses"]
    status = str(response.status_code)
    assert status in declared, f"{method.upper()} {path} answered {status}, not described"
    problems = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in schema_errors(document, path, method, status, response.json())
    ]
    assert not problems, f"{method.upper()} {path} {status}:\n" + "\n".join(problems)


def resolved(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`schema`, or the component schema it refers to."""
    ref = schema.get("$ref")
    if ref is None:
        return schema
    found: dict[str, Any] = document["components"]["schemas"][ref.split("/")[-1]]
    return found


def alternatives(document: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """`schema` and the schemas it combines (allOf, anyOf: a nullable object is
    `anyOf: [object, null]`), each resolved."""
    schema = resolved(document, schema)
    parts = [*schema.get("allOf", []), *schema.get("anyOf", [])]
    return [schema, *(resolved(document, part) for part in parts)]


def undeclared(document: dict[str, Any], schema: dict[str, Any], value: Any, at: str) -> list[str]:
    """Where `value` holds an object key that its schema does not name (JSON Schema allows
    such keys unless told otherwise, so validation alone would not notice an undocumented
    field). Objects whose schema names no properties, or allows any, are free-form."""
    parts = alternatives(document, schema)
    if isinstance(value, list):
        items = next((part["items"] for part in parts if "items" in part), None)
        if items is None:
            return []
        return [
            problem
            for i, item in enumerate(value)
            for problem in undeclared(document, items, item, f"{at}[{i}]")
        ]
    if not isinstance(value, dict):
        return []
    named: dict[str, Any] = {}
    for part in parts:
        named.update(part.get("properties", {}))
    if not named or any(part.get("additionalProperties") is True for part in parts):
        return []
    problems = [f"{at}.{key}" for key in value if key not in named]
    for key, item in value.items():
        if key in named:
            problems += undeclared(document, named[key], item, f"{at}.{key}")
    return problems


# -- the document ----------------------------------------------------------------------------


def test_the_document_is_openapi_3_1_in_shape(document: dict[str, Any]) -> None:
    assert re.fullmatch(r"3\.1\.\d+", document["openapi"])
    assert document["info"]["title"]
    assert document["info"]["version"] == __version__
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
    }
    assert document["security"] == [{"bearer": []}]
    assert document["paths"]

    operation_ids = [op["operationId"] for _, _, op in operations_of(document)]
    assert len(operation_ids) == len(set(operation_ids)), "operation ids must be unique"
    for path, method, operation in operations_of(document):
        assert path.startswith("/api/v1/"), path
        where = f"{method.upper()} {path}"
        parameters = operation.get("parameters", [])
        for parameter in parameters:
            assert parameter["in"] in ("path", "query", "header", "cookie"), where
            assert parameter["name"], where
            assert "schema" in parameter, where
            Draft202012Validator.check_schema(parameter["schema"])
        in_path = {p["name"] for p in parameters if p["in"] == "path"}
        assert in_path == set(re.findall(r"\{(\w+)\}", path)), where
        assert all(p["required"] for p in parameters if p["in"] == "path"), where
        assert operation["responses"], where
        for status, response in operation["responses"].items():
            assert re.fullmatch(r"[1-5]\d\d", status), where
            assert response["description"], where
            for content in response.get("content", {}).values():
                Draft202012Validator.check_schema(content["schema"])


def test_every_component_schema_is_valid_json_schema(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert {"Error", "Project", "Session", "Summary", "ErrorOccurrence", "ErrorGroup"} <= set(
        schemas
    )
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)
    # Every reference points at a schema that exists.
    refs = re.findall(r'"\$ref": "([^"]+)"', json.dumps(document))
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def object_schemas(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """`schema` and every schema within it that names properties."""
    if "properties" in schema:
        yield schema
    within = [
        *schema.get("properties", {}).values(),
        *schema.get("allOf", []),
        *schema.get("anyOf", []),
        *schema.get("oneOf", []),
        schema.get("items"),
        schema.get("additionalProperties"),
    ]
    for part in within:
        if isinstance(part, dict):
            yield from object_schemas(part)


def test_every_object_schema_allows_no_field_it_does_not_name(document: dict[str, Any]) -> None:
    # Validation alone then rejects an undocumented field: JSON Schema allows any unless told.
    components = document["components"]["schemas"].values()
    described = [found for schema in components for found in object_schemas(schema)]
    assert len(described) >= len(components)
    for schema in described:
        assert schema.get("additionalProperties") is False, schema.get("title", schema)
    # The answers' schemas are references to those components, not objects of their own.
    for path, method, operation in operations_of(document):
        for response in operation["responses"].values():
            for content in response.get("content", {}).values():
                assert not list(object_schemas(content["schema"])), f"{method} {path}"


def test_every_route_is_described_and_nothing_else(document: dict[str, Any]) -> None:
    routed = set()
    for route in ROUTES:
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD":
                routed.add((route.path, method.lower()))
    described = {(path, method) for path, method, _ in operations_of(document)}
    assert routed == described
    assert ("/api/v1/sessions/{secure_id}", "delete") in routed


# -- the operations, answering ---------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    project: Project
    secure_id: str
    """A processed session with something in every timeline."""
    disposable: str
    """A session of the same project, for DELETE."""
    fingerprint: str
    """The error group of the session's error; in no other project."""
    trace_id: str
    """A trace the session's fetch started and a backend continued (with an error)."""


@pytest.fixture(scope="module")
def recorded(api_server: Server, admin_token: str) -> Recorded:
    project = new_project(api_server, "openapi")
    resources = [
        {
            "name": "https://app.example/api/cart",
            "initiatorType": "fetch",
            "startTimeAbs": T0 + 200,
            "responseEndAbs": T0 + 250,
            "requestResponsePairs": {
                "request": {"verb": "GET", "headers": {}, "body": ""},
                "response": {"status": 200, "headers": {}, "body": "{}", "size": 2},
            },
        }
    ]
    sockets = {
        "webSocketEvents": [
            {"socketId": "1", "type": "open", "name": "wss://app.example/", "timeStamp": T0}
        ]
    }
    messages = [{"type": "info", "trace": [], "value": ["hi"], "time": T0, "attributes": "{}"}]
    with http_client(base_url=api_server.url, timeout=30) as sdk:
        secure_id = record(
            sdk,
            project,
            [
                *active_for(3),
                click(T0 + 3500),
                navigate(T0 + 3600, "https://app.example/cart"),
                track_event(T0 + 3700, "checkout", total=3),
            ],
            errors=[page_error("openapi schema probe failed")],
            messages=messages,
            resources=resources,
            web_socket_events=json.dumps(sockets),
        )
        identify(sdk, secure_id, "ada@example.com", {"plan": "pro"})
        for document, variables in (
            (PROPERTIES_DOC, {"properties_object": {"referrer": "https://ref.example/"}}),
            (TRACK_DOC, {"properties_object": {"cart": "full"}}),
            (FEEDBACK_DOC, {"verbatim": "nice", "timestamp": "2026-11-26T03:41:22Z"}),
        ):
            answer = gql(sdk, document, {"session_secure_id": secure_id, **variables})
            assert "errors" not in answer.json(), answer.text
        disposable = record(sdk, project, active_for(1))
        trace_id = os.urandom(16).hex()
        for signal, export in traced_request(secure_id, project.id, trace_id).items():
            assert sdk.post(f"/v1/{signal}", json=export).status_code == 200
    wait_for_processing(api_server)
    with bearer_client(api_server, admin_token) as api:
        fingerprint = get_json(api, f"/api/v1/sessions/{secure_id}/errors")["errors"][0][
            "fingerprint"
        ]
    return Recorded(project, secure_id, disposable, fingerprint, trace_id)


def filled(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_every_described_operation_answers_and_matches_its_schema(
    document: dict[str, Any], api: httpx.Client, recorded: Recorded
) -> None:
    values = {
        "secure_id": recorded.secure_id,
        "fingerprint": recorded.fingerprint,
        "trace_id": recorded.trace_id,
    }
    answered = []
    for path, method, operation in operations_of(document):
        if method == "delete":
            continue
        if "content" not in operation["responses"]["200"]:
            # Not JSON: a kept asset's bytes (tests/processing/test_assets.py reads them).
            continue
        response = api.request(method, filled(path, values))
        assert 200 <= response.status_code < 300, f"{method} {path}: {response.text}"
        assert response.headers["content-type"].startswith("application/json")
        assert_matches_schema(document, path, method, response)
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert undeclared(document, schema, response.json(), "") == [], f"{method} {path}"
        answered.append((path, response.json()))
    # The answers had something in them to validate, not just empty lists.
    bodies = dict(answered)
    session = "/api/v1/sessions/{secure_id}"
    for key, path in [
        ("console", f"{session}/console"),
        ("network", f"{session}/network"),
        ("websocket", f"{session}/network"),
        ("errors", f"{session}/errors"),
        ("events", f"{session}/track"),
        ("feedback", f"{session}/feedback"),
        ("sessions", "/api/v1/sessions"),
        ("errors", "/api/v1/errors"),
        ("error_groups", "/api/v1/error-groups"),
        ("recent", "/api/v1/error-groups/{fingerprint}"),
        ("projects", "/api/v1/projects"),
        ("logs", "/api/v1/logs"),
        ("spans", "/api/v1/traces/{trace_id}"),
        ("errors", "/api/v1/traces/{trace_id}"),
    ]:
        assert bodies[path][key], f"{path} has no {key}"
    assert bodies[session]["summary"]["details"]["intervals"]
    assert len(bodies[f"{session}/events"]) == 8


@pytest.mark.parametrize(
    ("path", "where"),
    [
        ("/api/v1/sessions/{secure_id}", ()),
        ("/api/v1/sessions/{secure_id}", ("user",)),
        ("/api/v1/sessions/{secure_id}", ("summary",)),
        ("/api/v1/sessions", ("sessions", 0, "summary")),
        ("/api/v1/sessions/{secure_id}/console", ("console", 0)),
        ("/api/v1/sessions/{secure_id}/network", ("websocket", 0)),
        ("/api/v1/error-groups/{fingerprint}", ("latest",)),
        ("/api/v1/error-groups/{fingerprint}", ("recent", 0)),
        # The last: the page error (the first is the backend's, which has no frames).
        ("/api/v1/sessions/{secure_id}/errors", ("errors", -1, "frames", 0)),
        ("/api/v1/traces/{trace_id}", ("spans", 0)),
        ("/api/v1/projects", ("projects", 0)),
    ],
)
def test_a_field_the_document_lacks_fails_validation(
    document: dict[str, Any],
    api: httpx.Client,
    recorded: Recorded,
    path: str,
    where: tuple[str | int, ...],
) -> None:
    """What the two checks above would find if a route answered a field the structs it is
    described by do not have: a real answer, given one more field, no longer validates."""
    values = {
        "secure_id": recorded.secure_id,
        "fingerprint": recorded.fingerprint,
        "trace_id": recorded.trace_id,
    }
    operation = document["paths"][path]["get"]
    own = {"project": recorded.project.id}  # what other tests record stays out of lists
    named = {p["name"] for p in operation["parameters"]}
    answer = get_json(api, filled(path, values), **{k: v for k, v in own.items() if k in named})
    assert schema_errors(document, path, "get", "200", answer) == []
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert undeclared(document, schema, answer, "") == []

    changed = copy.deepcopy(answer)
    target, steps = changed, []
    for step in where:
        if isinstance(step, int):
            step %= len(target)  # -1: the last item
        target = target[step]
        steps.append(step)
    assert isinstance(target, dict), where
    target["undocumented"] = 1

    errors = schema_errors(document, path, "get", "200", changed)
    assert [list(e.absolute_path) for e in errors] == [steps]
    assert any("'undocumented' was unexpected" in m for m in messages(errors[0])), errors
    at = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in steps)
    assert undeclared(document, schema, changed, "") == [f"{at}.undocumented"]


def test_delete_answers_as_described(
    document: dict[str, Any], api: httpx.Client, recorded: Recorded
) -> None:
    deletes = [path for path, method, _ in operations_of(document) if method == "delete"]
    assert deletes == ["/api/v1/sessions/{secure_id}"]
    declared = document["paths"][deletes[0]]["delete"]["responses"]
    response = api.delete(filled(deletes[0], {"secure_id": recorded.disposable}))
    assert response.status_code == 204
    assert "content" not in declared["204"]
    assert response.content == b""
    gone = api.get(f"/api/v1/sessions/{recorded.disposable}")
    assert_matches_schema(document, "/api/v1/sessions/{secure_id}", "get", gone)
    assert gone.status_code == 404


def test_error_answers_match_their_schemas(
    document: dict[str, Any], api_server: Server, api: httpx.Client, recorded: Recorded
) -> None:
    outsider = create_token(api_server, project=str(new_project(api_server, "outsider").id))
    with (
        http_client(base_url=api_server.url, timeout=30) as anonymous,
        bearer_client(api_server, outsider) as other,
    ):
        for path, method, operation in operations_of(document):
            real = filled(
                path,
                {
                    "secure_id": recorded.secure_id,
                    "fingerprint": "0" * 16,
                    "trace_id": "0" * 32,
                    "digest": "0" * 64,
                },
            )
            unauthenticated = anonymous.request(method, real)
            assert unauthenticated.status_code == 401
            assert_matches_schema(document, path, method, unauthenticated)

            if "{secure_id}" in path:
                forbidden = other.request(method, real)
                assert forbidden.status_code == 403
                assert_matches_schema(document, path, method, forbidden)
                unknown = api.request(
                    method, filled(path, {"secure_id": "no-such-session", "digest": "0" * 64})
                )
                assert unknown.status_code == 404
                assert_matches_schema(document, path, method, unknown)
            if "{fingerprint}" in path or "{trace_id}" in path or "{digest}" in path:
                unknown = api.request(method, real)
                assert unknown.status_code == 404
                assert_matches_schema(document, path, method, unknown)
            if any(p["name"] == "limit" for p in operation.get("parameters", [])):
                bad = api.request(method, real, params={"limit": "0"})
                assert bad.status_code == 400
                assert_matches_schema(document, path, method, bad)
    # The refused and unknown DELETEs deleted nothing.
    assert api.get(f"/api/v1/sessions/{recorded.secure_id}").status_code == 200
