"""The public graph: Highlight's ingestion protocol as a GraphQL schema, executed with
real GraphQL semantics (graphql-core) over a cache of prepared documents."""

from __future__ import annotations

from footlight.config import Limits
from footlight.graph.context import RequestContext
from footlight.graph.documents import DocumentCache
from footlight.graph.executor import Executor, GraphQLRequest, Outcome
from footlight.graph.fast_path import FastPath
from footlight.graph.schema import public_schema

__all__ = ["Executor", "GraphQLRequest", "Outcome", "RequestContext", "build_executor"]


def build_executor(limits: Limits, *, fast_path: bool = True) -> Executor:
    """The public graph's executor; `fast_path` runs the SDK's own documents without
    graphql-core's executor (`graph.fast_path`)."""
    schema = public_schema()
    documents = DocumentCache(
        schema, max_bytes=limits.max_query_bytes, max_tokens=limits.max_query_tokens
    )
    return Executor(schema, documents, limits, FastPath(schema, documents) if fast_path else None)
