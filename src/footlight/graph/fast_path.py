"""The SDK's own documents, run without graphql-core's executor.

Nearly every request footlight answers is one of a handful of documents, the exact texts
the browser SDK sends (`sdk_documents.json`, taken from the captured traffic in
tests/fixtures): ~95 % of them `PushSessionEvents`. For those, graphql-core's executor is
overhead with no decision left in it: the document is known, valid and has one field whose
arguments are all variables. Building the executor, coercing variables through the generic
walkers, executing the selection set and reducing the awaitables cost ~35 µs a push, about
a tenth of what the process spends on one.

So `FastPath` plans each known document once, from its parsed text (no hand-written plans
to drift from the schema), and a request whose text is one of them runs the same resolver
with the arguments graphql-core would have given it. The rule that keeps both paths giving
the same answers: the fast path takes only variables it can coerce with the schema's own
scalar rules and no loosening, and hands everything else to the general path before
anything has run. A variable of the wrong type, a null for a non-null one, a number where a
string is declared (which Go-lenient loosening would accept), an unknown `operationName`,
a GET: all go to `Executor`'s general path, which answers them as it always did. What the
fast path answers itself (a resolver's value, or its error) is shaped by the same
functions the general path uses (`executor._outcome`), from a `GraphQLError` located at the
same field as graphql-core's.

Planned: a mutation or query selecting one field that returns a scalar (String!, Any, ...),
with arguments that are variables of scalar types, no defaults, and no variable that no
argument uses. Not planned, so run by graphql-core: `initializeSession`, whose answer is an
object selected through fragments (one a page load, against ~30 pushes a minute), list or
input-object variables (graphql-core coerces those item by item, and `graph.caps` measures
them first).

tests/graph/test_fast_path.py runs every captured request of every SDK version, and a
fuzzed corpus of variables, through a server with the fast path and one without, and
compares answers to the byte and the rows stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import msgspec
from graphql import (
    ExecutionResult,
    FieldNode,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLSchema,
    GraphQLType,
    OperationDefinitionNode,
    Undefined,
    VariableNode,
    is_leaf_type,
    located_error,
    type_from_ast,
)

from footlight.graph.documents import DocumentCache
from footlight.graph.resolvers import Resolver


def known_documents() -> dict[str, dict[str, str]]:
    """The document texts of each SDK version footlight knows, by operation name."""
    text = resources.files("footlight.graph").joinpath("sdk_documents.json").read_text("utf-8")
    documents: dict[str, dict[str, str]] = json.loads(text)
    return documents


class _Fallback(Exception):
    """The request needs the general path: nothing has run yet."""


_FALLBACK = _Fallback()


@dataclass(frozen=True)
class _Variable:
    name: str
    leaf: GraphQLLeafType
    required: bool

    def coerce(self, variables: Mapping[str, Any], into: dict[str, Any], argument: str) -> None:
        """Put the argument's value in `into`, as graphql-core would, or raise _Fallback."""
        if self.name not in variables:
            if self.required:
                raise _FALLBACK
            return  # absent: the resolver's argument is absent too
        value = variables[self.name]
        if value is None:
            if self.required:
                raise _FALLBACK
            into[argument] = None
            return
        try:
            coerced = self.leaf.coerce_input_value(value)
        except Exception:  # whatever refuses it, the general path words it
            raise _FALLBACK from None
        if coerced is Undefined:
            raise _FALLBACK
        into[argument] = coerced


class _Info(msgspec.Struct, frozen=True):
    """The part of graphql-core's resolve info the resolvers read."""

    context: Any


@dataclass(frozen=True)
class Plan:
    """How to run one known operation without graphql-core's executor."""

    operation_name: str
    field: str
    key: str
    node: FieldNode
    parent_type: str
    arguments: tuple[tuple[str, _Variable], ...]
    resolver: Resolver
    returns: GraphQLLeafType
    nullable: bool

    def arguments_for(self, variables: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The resolver's arguments, or None when the request needs the general path."""
        arguments: dict[str, Any] = {}
        given = variables or {}
        try:
            for argument, variable in self.arguments:
                variable.coerce(given, arguments, argument)
        except _Fallback:
            return None
        return arguments

    async def run(self, arguments: dict[str, Any], context: Any) -> ExecutionResult:
        """Run the resolver and complete its value as graphql-core does."""
        try:
            value = await self.resolver(None, _Info(context), **arguments)
            completed = self._complete(value)
        except Exception as exc:  # graphql-core makes every one a field error
            error = located_error(exc, [self.node], [self.key])
            return ExecutionResult({self.key: None} if self.nullable else None, [error])
        return ExecutionResult({self.key: completed})

    def _complete(self, value: Any) -> Any:
        if isinstance(value, Exception):
            raise value
        if value is None or value is Undefined:
            if not self.nullable:
                raise TypeError(
                    f"Cannot return null for non-nullable field {self.parent_type}.{self.field}."
                )
            return None
        coerced = self.returns.coerce_output_value(value)
        if coerced is Undefined or coerced is None:
            raise TypeError(
                f"Expected `{self.returns}.coerce_output_value({value!r})` to return"
                f" non-nullable value, returned: {coerced!r}"
            )
        return coerced


def _plan(schema: GraphQLSchema, operation: OperationDefinitionNode) -> Plan | None:
    """A plan for one operation of a known document, or None if it is not of the simple
    kind described in the module docstring."""
    if operation.name is None or len(operation.selection_set.selections) != 1:
        return None
    node = operation.selection_set.selections[0]
    if not isinstance(node, FieldNode) or node.directives or operation.directives:
        return None
    root = schema.get_root_type(operation.operation)
    if root is None or node.name.value not in root.fields:
        return None
    field = root.fields[node.name.value]
    returns: GraphQLType = field.type
    nullable = not isinstance(returns, GraphQLNonNull)
    if isinstance(returns, GraphQLNonNull):
        returns = returns.of_type
    if not is_leaf_type(returns) or field.resolve is None:
        return None
    declared: dict[str, _Variable] = {}
    for definition in operation.variable_definitions or ():
        if definition.default_value is not None or definition.directives:
            return None
        type_ = type_from_ast(schema, definition.type)
        required = isinstance(type_, GraphQLNonNull)
        leaf = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if not is_leaf_type(leaf):
            return None
        name = definition.variable.name.value
        declared[name] = _Variable(name, leaf, required)
    arguments: list[tuple[str, _Variable]] = []
    for argument in node.arguments or ():
        name = argument.name.value
        definition_ = field.args.get(name)
        if (
            definition_ is None
            or definition_.default_value is not Undefined
            or not isinstance(argument.value, VariableNode)
        ):
            return None
        variable = declared[argument.value.name.value]
        if isinstance(definition_.type, GraphQLNonNull) and not variable.required:
            return None  # validation refuses it; graphql-core's runtime words the error
        arguments.append((name, variable))
    if {variable.name for _, variable in arguments} != set(declared):
        return None  # graphql-core would coerce (and could refuse) a variable no argument uses
    return Plan(
        operation_name=operation.name.value,
        field=node.name.value,
        key=(node.alias or node.name).value,
        node=node,
        parent_type=root.name,
        arguments=tuple(arguments),
        resolver=field.resolve,
        returns=returns,
        nullable=nullable,
    )


class FastPath:
    """Plans for the known documents, by their exact text."""

    def __init__(self, schema: GraphQLSchema, documents: DocumentCache) -> None:
        self._plans: dict[str, Plan] = {}
        for version in known_documents().values():
            for text in version.values():
                prepared = documents.prepare(text)
                if prepared.failure is not None:
                    raise RuntimeError(
                        f"a known SDK document does not validate: {prepared.failure}"
                    )
                (operation,) = prepared.operations.values()
                plan = _plan(schema, operation.node)
                if plan is not None:
                    self._plans[text] = plan

    @property
    def operations(self) -> frozenset[str]:
        """The operations it runs itself."""
        return frozenset(plan.operation_name for plan in self._plans.values())

    def plan(self, query: str, operation_name: str | None) -> Plan | None:
        plan = self._plans.get(query)
        if plan is None or (operation_name is not None and operation_name != plan.operation_name):
            return None
        return plan

    def prepare(
        self,
        query: str,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
        context: Any,
    ) -> Ready | None:
        """The request ready to run here, or None when it needs the general path."""
        plan = self.plan(query, operation_name)
        arguments = None if plan is None else plan.arguments_for(variables)
        return None if plan is None or arguments is None else Ready(plan, arguments, context)


class Ready(msgspec.Struct, frozen=True):
    """A known operation with its resolver's arguments (what `Executor.prepare` hands on)."""

    plan: Plan
    arguments: dict[str, Any]
    context: Any
