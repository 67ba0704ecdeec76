"""Go-lenient variable coercion, applied before graphql-core's strict one.

Highlight's server (gqlgen + gqlparser) accepts a few things the GraphQL spec does not, and
SDKs in the field rely on them: a JSON number for a `String` variable (numeric user ids in
`identifySession`), a numeric string for an `Int` or `Float`. Rather than replace the
built-in scalars, variable values are loosened here, guided by the operation's declared
variable types, and then handed to graphql-core, which still enforces everything else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from graphql import (
    GraphQLFloat,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    GraphQLString,
    OperationDefinitionNode,
    type_from_ast,
)

_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _loosen(value: Any, type_: GraphQLInputType) -> Any:
    if isinstance(type_, GraphQLNonNull):
        return _loosen(value, type_.of_type)
    if value is None:
        return None
    if isinstance(type_, GraphQLList):
        if isinstance(value, list):
            return [_loosen(item, type_.of_type) for item in value]
        return _loosen(value, type_.of_type)
    if isinstance(type_, GraphQLInputObjectType):
        if not isinstance(value, dict):
            return value
        fields = type_.fields
        return {
            key: _loosen(item, fields[key].type) if key in fields else item
            for key, item in value.items()
        }
    if isinstance(value, bool):
        return value
    if type_ is GraphQLString and isinstance(value, int | float):
        return str(value)
    if type_ is GraphQLInt and isinstance(value, str) and _INT_TEXT.fullmatch(value):
        return int(value)
    if type_ is GraphQLFloat and isinstance(value, str) and _FLOAT_TEXT.fullmatch(value):
        return float(value)
    return value


def _needs_loosening(type_: GraphQLInputType, seen: set[str] | None = None) -> bool:
    if isinstance(type_, GraphQLNonNull | GraphQLList):
        return _needs_loosening(type_.of_type, seen)
    if isinstance(type_, GraphQLInputObjectType):
        seen = seen if seen is not None else set()
        if type_.name in seen:
            return False
        seen.add(type_.name)
        return any(_needs_loosening(f.type, seen) for f in type_.fields.values())
    return type_ in (GraphQLString, GraphQLInt, GraphQLFloat)


class VariableLoosener:
    """Loosens the variables of one (cached) operation; built once per document."""

    def __init__(self, schema: GraphQLSchema, operation: OperationDefinitionNode) -> None:
        self._plan: list[tuple[str, GraphQLInputType]] = []
        for definition in operation.variable_definitions or ():
            type_ = type_from_ast(schema, definition.type)
            if type_ is not None and _needs_loosening(type_):  # type: ignore[arg-type]
                self._plan.append((definition.variable.name.value, type_))  # type: ignore[arg-type]

    def __call__(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        loosened = dict(variables)
        for name, type_ in self._plan:
            if name in loosened:
                loosened[name] = _loosen(loosened[name], type_)
        return loosened
