"""GraphQL documents, parsed and validated once.

The SDK sends the same handful of documents millions of times; parsing and validating one
costs milliseconds in pure Python, executing it a fraction of that. So each distinct query
text is prepared once (parse, validate, index its operations, plan its lenient variable
coercion) and kept in a bounded LRU cache. Documents that fail are cached too, with their
errors, so a misbehaving client cannot make the server re-parse its garbage on every request.
Only documents of SDK size are cached, so the cache's memory stays bounded whatever strangers
send; a larger one is prepared for its request and forgotten.

A mutation may select one field. Every SDK operation does; several aliased fields in one
request would multiply the work a single request can cause (one large variable written N
times) and, since each field commits on its own, could leave half of a refused request
written.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from threading import Lock

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    parse,
    validate,
)

from footlight.errors import RequestError
from footlight.graph.caps import ListCaps
from footlight.graph.lenient import VariableLoosener

CACHEABLE_CHARS = 16 * 1024
"""The SDK's documents are 0.1-2 KB."""
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"


@dataclass(frozen=True)
class PreparedOperation:
    name: str | None
    node: OperationDefinitionNode
    loosen: VariableLoosener
    caps: ListCaps

    @property
    def is_query(self) -> bool:
        return self.node.operation is OperationType.QUERY

    @property
    def field(self) -> str | None:
        """The schema field it selects first (a mutation selects only one)."""
        for selection in self.node.selection_set.selections:
            if isinstance(selection, FieldNode):
                return selection.name.value
        return None


@dataclass(frozen=True)
class PreparedDocument:
    document: DocumentNode | None
    failure: RequestError | None = None
    operations: dict[str, PreparedOperation] = field(default_factory=dict)

    def operation(self, name: str | None) -> PreparedOperation:
        """Pick the operation to run, as GraphQL does: by name, or the only one."""
        if self.failure is not None:
            raise self.failure
        if name:
            try:
                return self.operations[name]
            except KeyError:
                raise RequestError(
                    f"Unknown operation named '{name}'.", VALIDATION_FAILED
                ) from None
        if len(self.operations) == 1:
            return next(iter(self.operations.values()))
        raise RequestError(
            "Must provide operation name if query contains multiple operations.",
            VALIDATION_FAILED,
        )


class DocumentCache:
    def __init__(
        self, schema: GraphQLSchema, *, max_bytes: int, max_tokens: int, size: int = 1000
    ) -> None:
        self._schema = schema
        self._max_bytes = max_bytes
        self._max_tokens = max_tokens
        self._size = size
        self._entries: OrderedDict[str, PreparedDocument] = OrderedDict()
        self._lock = Lock()

    def prepare(self, query: str) -> PreparedDocument:
        with self._lock:
            entry = self._entries.get(query)
            if entry is not None:
                self._entries.move_to_end(query)
                return entry
        if len(query.encode()) > self._max_bytes:
            # Not cached: the cache must not hold the largest inputs a stranger can send.
            return PreparedDocument(
                None,
                RequestError(
                    f"the query is longer than {self._max_bytes} bytes (limit: max_query_bytes)",
                    PARSE_FAILED,
                ),
            )
        entry = self._build(query)
        if len(query) > CACHEABLE_CHARS:
            return entry
        with self._lock:
            self._entries[query] = entry
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return entry

    def _build(self, query: str) -> PreparedDocument:
        try:
            document = parse(query, max_tokens=self._max_tokens)
        except GraphQLError as exc:
            # The traceback would keep the parser's frames (and its partial tree) alive.
            exc.__traceback__ = None
            return PreparedDocument(None, RequestError(exc.message, PARSE_FAILED, (exc,)))
        errors = validate(self._schema, document)
        if errors:
            return PreparedDocument(
                document, RequestError(errors[0].message, VALIDATION_FAILED, tuple(errors))
            )
        operations: dict[str, PreparedOperation] = {}
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                refusal = _several_mutations(definition)
                if refusal is not None:
                    return PreparedDocument(None, RequestError(refusal, VALIDATION_FAILED))
                name = definition.name.value if definition.name else ""
                operations[name] = PreparedOperation(
                    name or None,
                    definition,
                    VariableLoosener(self._schema, definition),
                    ListCaps(self._schema, definition),
                )
        return PreparedDocument(document, None, operations)


def _several_mutations(operation: OperationDefinitionNode) -> str | None:
    """Why a mutation operation is refused, if it selects anything but a single field."""
    if operation.operation is not OperationType.MUTATION:
        return None
    selections = operation.selection_set.selections
    if len(selections) == 1 and isinstance(selections[0], FieldNode):
        return None
    return (
        f"a mutation may select exactly one field, not {len(selections)} selections"
        " (send each operation as its own request)"
    )
