"""GraphQL over HTTP at the edge: routes, methods, content types, status codes and CORS,
as Highlight's server answered them (contract §1) and the SDK needs them."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers.graphql import INIT_DOC, error_codes, gql, init_variables, new_secure_id

ORIGIN = "http://shop.example:3000"
SAMPLING_QUERY = (
    "query Q($k: String!) { sampling(organization_verbose_id: $k) { spans { samplingRatio } } }"
)


@pytest.mark.parametrize("path", ["/", "/public", "/public/"])
def test_the_public_graph_answers_at_root_and_public(client: httpx.Client, path: str) -> None:
    secure_id = new_secure_id()
    response = gql(client, INIT_DOC, init_variables(secure_id), "initializeSession", path=path)
    assert response.status_code == 200
    assert response.json()["data"]["initializeSession"] == {
        "secure_id": secure_id,
        "project_id": "1",
        "sampling": None,
    }


def test_get_runs_queries(client: httpx.Client) -> None:
    response = client.get(
        "/",
        params={"query": SAMPLING_QUERY, "variables": '{"k": "1jdkoe52"}', "operationName": "Q"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"sampling": {"spans": None}}}


def test_get_refuses_mutations_with_406(client: httpx.Client) -> None:
    response = client.get("/", params={"query": "mutation { markBackendSetup }"})
    assert response.status_code == 406
    assert response.json()["errors"][0]["message"] == "GET requests only allow query operations"


def test_get_with_undecodable_variables_is_400(client: httpx.Client) -> None:
    response = client.get("/", params={"query": SAMPLING_QUERY, "variables": "{nope"})
    assert response.status_code == 400
    assert error_codes(response) == ["BAD_REQUEST"]


def test_preflight_allows_any_origin_with_credentials(client: httpx.Client) -> None:
    response = client.options(
        "/",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,x-custom",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-allow-methods"] == "POST"
    assert response.headers["access-control-allow-headers"] == "content-type,x-custom"
    assert "Origin" in response.headers["vary"]
    assert response.content == b""


def test_preflight_for_a_method_not_served_grants_nothing(client: httpx.Client) -> None:
    response = client.options(
        "/", headers={"origin": ORIGIN, "access-control-request-method": "DELETE"}
    )
    assert response.status_code == 204
    assert "access-control-allow-origin" not in response.headers


def test_responses_echo_the_origin_and_expose_retry_after(client: httpx.Client) -> None:
    response = gql(client, SAMPLING_QUERY, {"k": "x"}, headers={"origin": ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-expose-headers"] == "Retry-After"
    assert response.headers["vary"] == "Origin"


def test_each_origin_is_echoed_its_own(client: httpx.Client) -> None:
    # The encoded headers are kept per origin (edge.cors): a site's second origin, and the
    # first again, must each hear their own.
    other = "https://other.example"
    for origin in (ORIGIN, other, ORIGIN):
        response = gql(client, SAMPLING_QUERY, {"k": "x"}, headers={"origin": origin})
        assert response.headers["access-control-allow-origin"] == origin


def test_error_responses_carry_cors_headers_too(client: httpx.Client) -> None:
    response = client.post(
        "/", content=b"{", headers={"origin": ORIGIN, "content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["access-control-allow-origin"] == ORIGIN


def test_no_cors_headers_without_an_origin(client: httpx.Client) -> None:
    response = gql(client, SAMPLING_QUERY, {"k": "x"})
    assert "access-control-allow-origin" not in response.headers


def test_bare_options_and_head(client: httpx.Client) -> None:
    options = client.options("/")
    assert options.status_code == 200
    assert options.headers["allow"] == "OPTIONS, GET, POST"
    assert client.head("/").status_code == 405


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json", 200),
        ("application/json; charset=utf-8", 200),
        ("Application/JSON", 200),
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
        (None, 415),
    ],
)
def test_post_needs_a_json_content_type(
    client: httpx.Client, content_type: str | None, status: int
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/", content=b'{"query": "{ ignore(id: 1) }"}', headers=headers)
    assert response.status_code == status
    if status == 415:
        assert error_codes(response) == ["UNSUPPORTED_MEDIA_TYPE"]
    else:
        assert response.json() == {"data": {"ignore": None}}


def test_compressed_request_bodies_are_refused_clearly(client: httpx.Client) -> None:
    response = client.post(
        "/",
        content=b"\x1f\x8b...",
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert response.status_code == 415
    assert "Content-Encoding gzip" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"variables": {}}', "no `query`"),
        (b'{"query": "{ ignore(id: 1) }", "variables": [1]}', "`variables` must be a JSON object"),
        (b'{"query": "{ ignore(id: 1) }", "operationName": 3}', "`operationName` must be a string"),
        (b'"\xff"', "not valid JSON"),
    ],
)
def test_malformed_request_bodies_are_400(client: httpx.Client, body: bytes, message: str) -> None:
    response = client.post("/", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert message in response.json()["errors"][0]["message"]
    assert error_codes(response) == ["BAD_REQUEST"]


@pytest.mark.parametrize(
    ("accept", "status", "content_type"),
    [
        ("*/*", 400, "application/graphql-response+json"),
        ("application/graphql-response+json", 400, "application/graphql-response+json"),
        ("application/json", 422, "application/json"),
        (None, 422, "application/json"),
        ("text/html, application/json;q=0.9", 422, "application/json"),
    ],
)
def test_request_errors_follow_gqlgen_statuses(
    client: httpx.Client, accept: str | None, status: int, content_type: str
) -> None:
    def post(body: bytes) -> httpx.Response:
        request = client.build_request(
            "POST", "/", content=body, headers={"content-type": "application/json"}
        )
        del request.headers["accept"]
        if accept:
            request.headers["accept"] = accept
        return client.send(request)

    parse = post(b'{"query": "mutation {"}')
    invalid = post(b'{"query": "{ nope }"}')
    for response, code in ((parse, "GRAPHQL_PARSE_FAILED"), (invalid, "GRAPHQL_VALIDATION_FAILED")):
        assert response.status_code == status
        assert response.headers["content-type"] == content_type
        assert error_codes(response) == [code]
        assert "data" not in response.json()


def test_validation_errors_name_the_problem(client: httpx.Client) -> None:
    response = gql(client, "{ ignore }")
    assert response.status_code == 400
    message = response.json()["errors"][0]["message"]
    assert "ignore" in message
    assert "id" in message


def test_variable_coercion_failures_are_validation_errors(client: httpx.Client) -> None:
    response = gql(
        client,
        """mutation M($t: Timestamp!) {
            addSessionFeedback(session_secure_id: "x", verbatim: "v", timestamp: $t)
        }""",
        {"t": "yesterday"},
    )
    assert response.status_code == 400
    assert error_codes(response) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "RFC 3339" in response.json()["errors"][0]["message"]


def test_operation_selection(client: httpx.Client) -> None:
    document = """
        query A { ignore(id: 1) }
        query B { sampling(organization_verbose_id: "1") { logs { samplingRatio } } }
    """
    assert gql(client, document, operation_name="B").json() == {
        "data": {"sampling": {"logs": None}}
    }
    assert gql(client, document, operation_name="A").json() == {"data": {"ignore": None}}
    missing = gql(client, document)
    assert missing.status_code == 400
    assert "operation name" in missing.json()["errors"][0]["message"]
    unknown = gql(client, document, operation_name="C")
    assert unknown.status_code == 400
    assert "Unknown operation named 'C'" in unknown.json()["errors"][0]["message"]


def test_unknown_routes_are_404(client: httpx.Client) -> None:
    response = client.post("/graphql", json={"query": "{ ignore(id: 1) }"})
    assert response.status_code == 404
    assert error_codes(response) == ["NOT_FOUND"]


def test_probes(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}
