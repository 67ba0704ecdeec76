"""Documents are parsed and validated once per distinct text, failures included, and the
cache stays bounded."""

from __future__ import annotations

import pytest

from footlight.errors import RequestError
from footlight.graph.documents import (
    CACHEABLE_CHARS,
    PARSE_FAILED,
    VALIDATION_FAILED,
    DocumentCache,
)
from footlight.graph.schema import public_schema
from tests.helpers.graphql import INIT_DOC, PUSH_DOC


def _cache(size: int = 1000) -> DocumentCache:
    return DocumentCache(public_schema(), max_bytes=100_000, max_tokens=5_000, size=size)


def test_a_known_document_is_prepared_once() -> None:
    cache = _cache()
    first = cache.prepare(PUSH_DOC)
    assert cache.prepare(PUSH_DOC) is first
    assert first.operation("PushSessionEvents").name == "PushSessionEvents"


@pytest.mark.parametrize(
    ("query", "code"), [("mutation {", PARSE_FAILED), ("{ nope }", VALIDATION_FAILED)]
)
def test_a_failing_document_is_remembered_with_its_error(query: str, code: str) -> None:
    cache = _cache()
    failed = cache.prepare(query)
    assert cache.prepare(query) is failed
    with pytest.raises(RequestError) as raised:
        failed.operation(None)
    assert raised.value.code == code


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    cache = _cache(size=2)
    init = cache.prepare(INIT_DOC)
    push = cache.prepare(PUSH_DOC)
    cache.prepare(INIT_DOC)  # now the most recently used
    cache.prepare("{ ignore(id: 1) }")  # evicts PUSH_DOC
    assert cache.prepare(INIT_DOC) is init
    assert cache.prepare(PUSH_DOC) is not push  # prepared again: it had been evicted


def test_documents_larger_than_the_sdk_sends_are_not_cached() -> None:
    cache = _cache()
    padded = "{ ignore(id: 1) }" + " " * CACHEABLE_CHARS
    assert cache.prepare(padded) is not cache.prepare(padded)
    broken = "mutation {" + " " * CACHEABLE_CHARS
    first = cache.prepare(broken)
    assert first.failure is not None
    assert first.failure.errors[0].__traceback__ is None
    assert cache.prepare(broken) is not first


@pytest.mark.parametrize(
    "query",
    [
        'mutation { a: addSessionFeedback(session_secure_id: "s", verbatim: "x",'
        ' timestamp: "2026-01-01T00:00:00Z") b: addSessionFeedback(session_secure_id: "t",'
        ' verbatim: "y", timestamp: "2026-01-01T00:00:00Z") }',
        'mutation { ... on Mutation { addSessionFeedback(session_secure_id: "s",'
        ' verbatim: "x", timestamp: "2026-01-01T00:00:00Z") } }',
    ],
)
def test_a_mutation_selecting_more_than_one_field_is_refused(query: str) -> None:
    with pytest.raises(RequestError) as raised:
        _cache().prepare(query).operation(None)
    assert raised.value.code == VALIDATION_FAILED
    assert "a mutation may select exactly one field" in raised.value.message


def test_the_query_limit_counts_bytes() -> None:
    cache = DocumentCache(public_schema(), max_bytes=100, max_tokens=5_000)
    query = "{ ignore(id: 1) } # " + "é" * 50  # 70 characters, 120 bytes
    with pytest.raises(RequestError) as raised:
        cache.prepare(query).operation(None)
    assert "longer than 100 bytes" in raised.value.message


def test_an_overlong_document_is_not_parsed_or_cached() -> None:
    cache = DocumentCache(public_schema(), max_bytes=50, max_tokens=5_000)
    query = "{ ignore(id: 1) }" + " " * 100
    with pytest.raises(RequestError) as raised:
        cache.prepare(query).operation(None)
    assert raised.value.code == PARSE_FAILED
    assert cache.prepare(query) is not cache.prepare(query)
