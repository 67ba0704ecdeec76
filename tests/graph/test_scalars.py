"""The Timestamp scalar takes what Go's RFC3339Nano takes, within the years 0001-9999 in UTC.

RFC 3339 lets an offset move a written year-0001 or year-9999 time out of that range:
`9999-12-31T23:59:59-14:00` is in the year 10000 in UTC. Stored, such a time broke every
page that showed it ("year 10000 is out of range"), for good. It is refused with a clear
GraphQL error instead, like any other value the scalar cannot read; the extremes within the
range are kept and read back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from graphql import GraphQLError

from footlight.graph.scalars import parse_timestamp
from tests.helpers.graphql import FEEDBACK_DOC, METRICS_DOC, error_codes, gql, init_session
from tests.helpers.servers import Server
from tests.helpers.store import read_session

OUT_OF_RANGE = [
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59.5-00:01",
]
EXTREMES = [
    ("0001-01-01T00:00:00Z", -62_135_596_800_000),
    ("0001-01-01T14:00:00+14:00", -62_135_596_800_000),
    ("9999-12-31T23:59:59.999Z", 253_402_300_799_999),
    ("9999-12-31T09:59:59-14:00", 253_402_300_799_000),
]


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_a_time_outside_the_years_0001_9999_in_utc_is_refused(text: str) -> None:
    with pytest.raises(GraphQLError, match="outside the years 0001-9999 in UTC"):
        parse_timestamp(text)


@pytest.mark.parametrize(("text", "epoch_ms"), EXTREMES)
def test_the_extremes_within_the_range_are_read(text: str, epoch_ms: int) -> None:
    moment = parse_timestamp(text)
    assert int(moment.timestamp() * 1000) == epoch_ms
    assert moment.astimezone(UTC).year in (1, 9999)


def _feedback(secure_id: str, timestamp: str) -> dict[str, Any]:
    return {"session_secure_id": secure_id, "verbatim": "hello", "timestamp": timestamp}


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_out_of_range_times_are_refused_over_http_and_nothing_is_stored(
    client: httpx.Client, server: Server, text: str
) -> None:
    secure_id = init_session(client)
    response = gql(client, FEEDBACK_DOC, _feedback(secure_id, text), "addSessionFeedback")
    assert response.status_code == 400
    assert error_codes(response) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "outside the years 0001-9999 in UTC" in response.json()["errors"][0]["message"]
    literal = gql(
        client,
        f'mutation {{ addSessionFeedback(session_secure_id: "{secure_id}", verbatim: "x",'
        f' timestamp: "{text}") }}',
    )
    assert error_codes(literal) == ["GRAPHQL_VALIDATION_FAILED"]
    metric = {"session_secure_id": secure_id, "name": "LCP", "value": 1, "timestamp": text}
    assert error_codes(gql(client, METRICS_DOC, {"metrics": [metric]})) == [
        "GRAPHQL_VALIDATION_FAILED"
    ]
    record = read_session(server.data_dir, secure_id)
    assert record is not None
    assert record.feedback == []
    assert record.metrics == []


def test_the_extremes_are_stored_and_read_back(client: httpx.Client, server: Server) -> None:
    secure_id = init_session(client)
    for text, _ in EXTREMES:
        response = gql(client, FEEDBACK_DOC, _feedback(secure_id, text), "addSessionFeedback")
        assert response.json() == {"data": {"addSessionFeedback": secure_id}}, response.text
    record = read_session(server.data_dir, secure_id)
    assert record is not None
    stored = sorted(f.timestamp for f in record.feedback)
    # Feedback is kept once per (time, text): the two written at the same instant are one.
    assert stored == sorted({ms for _, ms in EXTREMES})
    for ms in stored:  # what the UI does with them
        datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
