"""Documents are parsed and validated once per distinct text, failures included, and the
cache stays bounded."""

from __future__ import annotations

import pytest

from footlight.graph.documents import PARSE_FAILED, VALIDATION_FAILED, DocumentCache, RequestError
from footlight.graph.schema import public_schema
from tests.conftest import INIT_DOC, PUSH_DOC


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
    cache.prepare(PUSH_DOC)
    cache.prepare(INIT_DOC)  # now the most recently used
    cache.prepare("{ ignore(id: 1) }")  # evicts PUSH_DOC
    assert cache.prepare(INIT_DOC) is init
    push = cache.prepare(PUSH_DOC)
    assert cache.prepare(PUSH_DOC) is push
    assert cache.prepare("{ ignore(id: 1) }") is not None


def test_an_overlong_document_is_not_parsed_or_cached() -> None:
    cache = DocumentCache(public_schema(), max_bytes=50, max_tokens=5_000)
    query = "{ ignore(id: 1) }" + " " * 100
    with pytest.raises(RequestError) as raised:
        cache.prepare(query).operation(None)
    assert raised.value.code == PARSE_FAILED
    assert cache.prepare(query) is not cache.prepare(query)
