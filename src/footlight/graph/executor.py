"""Running one GraphQL request against the public graph, and shaping its errors.

Outcomes, and how the HTTP edge answers them:

* the document does not parse, does not validate, or its variables do not coerce: a
  *request error* (`GRAPHQL_PARSE_FAILED` / `GRAPHQL_VALIDATION_FAILED`), no `data`;
  the status follows gqlgen (400 or 422 by response content type, contract §1.4);
* the operation ran: 200 with `data`, plus `errors` for fields that failed, each with the
  `extensions.code` of the ingest error behind it; a list variable longer than ingest takes
  (`graph.caps`) is answered the same way, before graphql-core coerces it item by item;
* the store could not take the write: 503 with `Retry-After`, so the SDK retries and the
  client never believes unstored data was kept;
* a limit refused the operation (`footlight.ingest.quotas`): 429 with `Retry-After`, the
  error's `extensions` naming the limit.

A request runs in two steps. `prepare` is synchronous CPU work: look the document up, loosen
and coerce the variables (graphql-core walks every value of them: seconds for the 15 MB of
events of a legacy `pushPayload`). `complete` runs the resolvers on the event loop. `run`
does both inline, which is right for the SDK's small requests; the HTTP edge runs `prepare`
of a large request on a worker thread instead, so it does not stall every other client. Both
paths are graphql-core's own `execute()` taken apart (build the executor, then execute the
operation), so their answers are the same to the byte.

`prepare` first offers a request to the fast path (`graph.fast_path`), which runs the SDK's
own documents without graphql-core's executor, and gives back any request it cannot run
exactly as graphql-core would; large requests prepared on a thread take it too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any

import msgspec
from graphql import (
    ExecutionResult,
    FieldNode,
    GraphQLError,
    GraphQLNonNull,
    GraphQLSchema,
    OperationDefinitionNode,
)
from graphql import Executor as OperationExecutor

# What `graphql.execute()` builds for an operation; importing it lets the two steps that
# `execute()` takes (build, then execute the operation) run on different threads.
from graphql.execution.incremental.incremental_executor import IncrementalExecutor

from footlight.config import Limits
from footlight.errors import IngestError, LowDisk, Refused, RequestError, StoreUnavailable
from footlight.graph.documents import VALIDATION_FAILED, DocumentCache
from footlight.graph.fast_path import FastPath, Ready

log = logging.getLogger("footlight.graph")

INTERNAL = "INTERNAL_SERVER_ERROR"
UNAVAILABLE = "SERVICE_UNAVAILABLE"


class GraphQLRequest(msgspec.Struct, frozen=True):
    query: str
    variables: Mapping[str, Any] | None = None
    operation_name: str | None = None


class Outcome(msgspec.Struct, frozen=True):
    """What to answer. A request error has no `data` key; `status` overrides the usual one."""

    body: dict[str, Any]
    request_error: bool = False
    unavailable: bool = False
    status: int | None = None
    retry_after: int | None = None
    """Set when a limit refused the operation: seconds until it would pass (429)."""
    field: str | None = None
    """The schema field the operation selects (metrics name requests by it); None when the
    document did not parse or name an operation."""


def _location_list(error: GraphQLError) -> list[dict[str, int]] | None:
    if not error.locations:
        return None
    return [{"line": loc.line, "column": loc.column} for loc in error.locations]


def format_error(error: GraphQLError, default_code: str) -> dict[str, Any]:
    original = error.original_error
    message, code = error.message, default_code
    if isinstance(original, IngestError):
        message, code = original.message, original.code
    elif isinstance(original, StoreUnavailable):
        message = f"storage is unavailable, try again later: {original}"
        code = original.code if isinstance(original, LowDisk) else UNAVAILABLE
    elif original is not None and not isinstance(original, GraphQLError):
        log.error("resolver failed at %s", error.path, exc_info=original)
        message, code = "internal error; the server log has the details", INTERNAL
    formatted: dict[str, Any] = {"message": message}
    locations = _location_list(error)
    if locations:
        formatted["locations"] = locations
    if error.path:
        formatted["path"] = list(error.path)
    extra = original.extensions if isinstance(original, Refused) else {}
    formatted["extensions"] = {**(error.extensions or {}), **extra, "code": code}
    return formatted


def request_error_body(error: RequestError) -> dict[str, Any]:
    errors = error.errors or (GraphQLError(str(error)),)
    return {"errors": [format_error(e, error.code) for e in errors]}


def _refused_before_running(
    schema: GraphQLSchema, operation: OperationDefinitionNode, error: IngestError
) -> dict[str, Any]:
    """The answer a resolver's refusal gets, for an operation refused before it ran."""
    root = schema.get_root_type(operation.operation)
    selection = operation.selection_set.selections[0]
    assert root is not None
    assert isinstance(selection, FieldNode)
    key = (selection.alias or selection.name).value
    nullable = not isinstance(root.fields[selection.name.value].type, GraphQLNonNull)
    return {
        "errors": [{"message": error.message, "path": [key], "extensions": {"code": error.code}}],
        "data": {key: None} if nullable else None,
    }


@dataclass(frozen=True)
class Prepared:
    """A request whose variables are coerced: its resolvers are ready to run."""

    executor: OperationExecutor[Any]
    field: str | None


class Executor:
    def __init__(
        self,
        schema: GraphQLSchema,
        documents: DocumentCache,
        limits: Limits,
        fast_path: FastPath | None = None,
    ) -> None:
        self.schema = schema
        self.documents = documents
        self.limits = limits
        self.fast_path = fast_path

    async def run(
        self, request: GraphQLRequest, context: Any, *, queries_only: bool = False
    ) -> Outcome:
        return await self.complete(self.prepare(request, context, queries_only=queries_only))

    def prepare(
        self, request: GraphQLRequest, context: Any, *, queries_only: bool = False
    ) -> Prepared | Ready | Outcome:
        """The synchronous part of a request (thread-safe); an Outcome if it cannot run."""
        if self.fast_path is not None and not queries_only:
            ready = self.fast_path.prepare(
                request.query, request.operation_name, request.variables, context
            )
            if ready is not None:
                return ready
        try:
            prepared = self.documents.prepare(request.query)
            operation = prepared.operation(request.operation_name)
        except RequestError as exc:
            return Outcome(request_error_body(exc), request_error=True, status=exc.status)
        if queries_only and not operation.is_query:
            error = RequestError(
                "GET requests only allow query operations", VALIDATION_FAILED, status=406
            )
            return Outcome(
                request_error_body(error), request_error=True, status=406, field=operation.field
            )
        try:
            # Before loosening too, which also walks every item in Python.
            operation.caps.check(request.variables or {}, self.limits)
        except IngestError as exc:
            return Outcome(
                _refused_before_running(self.schema, operation.node, exc), field=operation.field
            )
        built = IncrementalExecutor.build(
            self.schema,
            prepared.document,  # type: ignore[arg-type]  # set whenever `operation` is
            context_value=context,
            raw_variable_values=operation.loosen(request.variables or {}),
            operation_name=operation.name,
        )
        if isinstance(built, list):
            return _outcome(ExecutionResult(None, errors=built), operation.field)
        return Prepared(built, operation.field)

    async def complete(self, prepared: Prepared | Ready | Outcome) -> Outcome:
        """Run the resolvers of a prepared request, on the event loop."""
        if isinstance(prepared, Outcome):
            return prepared
        if isinstance(prepared, Ready):  # nearly every request: the fast path's plan
            plan = prepared.plan
            return _outcome(await plan.run(prepared.arguments, prepared.context), plan.field)
        result = prepared.executor.execute_operation()
        if isawaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)
        return _outcome(result, prepared.field)


def _forget_tracebacks(errors: list[GraphQLError]) -> None:
    """Drop the tracebacks of a request's errors once they are formatted (and logged).

    A traceback holds the frames it passed through, with their locals: for a refused push,
    the buffer it was inflating (up to `max_inflated_bytes`). Through graphql-core's
    execution context, which lists the error, those frames and the error form a cycle, so
    only the cyclic garbage collector would free them, long after the request: a stream
    of refused 60 MB pushes took the server past 1 GB of RSS that way. Without the
    tracebacks, the request's memory goes when its answer has been sent.
    """
    for error in errors:
        error.__traceback__ = None
        if error.original_error is not None:
            error.original_error.__traceback__ = None


def _outcome(result: ExecutionResult, field: str | None) -> Outcome:
    errors = result.errors
    if not errors:
        return Outcome({"data": result.data}, field=field)  # nearly every request
    if result.data is None and all(e.path is None for e in errors):
        # Variable coercion failed before anything ran.
        formatted = [format_error(e, VALIDATION_FAILED) for e in errors]
        _forget_tracebacks(errors)
        return Outcome({"errors": formatted}, request_error=True, field=field)
    body = {"errors": [format_error(e, INTERNAL) for e in errors], "data": result.data}
    _forget_tracebacks(errors)
    unavailable = any(isinstance(e.original_error, StoreUnavailable) for e in errors)
    waits = [
        e.original_error.retry_after_seconds
        for e in errors
        if isinstance(e.original_error, Refused)
    ]
    return Outcome(
        body,
        unavailable=unavailable,
        retry_after=max(waits) if waits else None,
        field=field,
    )
