"""List variables measured before graphql-core coerces them, against ingest's own limits.

graphql-core coerces a list variable item by item, in Python, on the event loop: about 35 µs
per `MetricInput`, so the 100,000 metrics of one 8 MB `pushMetrics` held every other request
for 3.5 s before its resolver could refuse them. The lists that ingest bounds
(`footlight.ingest.bounds`: metrics, backend errors, recording domains, a metric's tags) are
therefore counted here first, from the raw variables, with the same limits and messages; a
refusal is the field error the resolver would have answered, at the cost of a `len()`.

Replay events of the legacy `pushPayload` are not capped here: they are a payload, bounded by
its size like every other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLSchema,
    OperationDefinitionNode,
    type_from_ast,
)

from footlight.config import Limits
from footlight.ingest.bounds import Bounds

_CAPPED_ITEMS = frozenset({"MetricInput", "BackendErrorObjectInput", "String"})
"""Item types of the lists ingest bounds by `max_items_per_call` (String: recording domains,
the only list of strings an operation can send)."""


def _list_item(type_: Any) -> GraphQLNamedType | None:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if not isinstance(type_, GraphQLList):
        return None
    item = type_.of_type
    if isinstance(item, GraphQLNonNull):
        item = item.of_type
    return item if isinstance(item, GraphQLNamedType) else None


class ListCaps:
    """The capped list variables of one (cached) operation."""

    def __init__(self, schema: GraphQLSchema, operation: OperationDefinitionNode) -> None:
        self._plan: list[tuple[str, str]] = []
        for definition in operation.variable_definitions or ():
            item = _list_item(type_from_ast(schema, definition.type))
            if item is not None and item.name in _CAPPED_ITEMS:
                self._plan.append((definition.variable.name.value, item.name))

    def check(self, variables: Mapping[str, Any], limits: Limits) -> None:
        """Raise BadInput (naming the setting) for a list longer than ingest would take."""
        bounds = Bounds(limits)
        for name, item_type in self._plan:
            value = variables.get(name)
            if not isinstance(value, list):
                continue
            bounds.items(value, f"${name}")
            if item_type != "MetricInput":
                continue
            for index, metric in enumerate(value):
                tags = metric.get("tags") if isinstance(metric, dict) else None
                if isinstance(tags, list):
                    bounds.tags(tags, f"${name}[{index}].tags")
