"""The public graph as an executable graphql-core schema: SDL + scalars + resolvers."""

from __future__ import annotations

from functools import cache
from importlib import resources

from graphql import GraphQLObjectType, GraphQLScalarType, GraphQLSchema, build_schema

from footlight.graph.resolvers import MUTATIONS, QUERIES, Resolver
from footlight.graph.scalars import SCALARS


def schema_sdl() -> str:
    return resources.files("footlight.graph").joinpath("schema.graphql").read_text("utf-8")


def _attach(type_: GraphQLObjectType | None, resolvers: dict[str, Resolver]) -> None:
    assert type_ is not None
    missing = set(type_.fields) ^ set(resolvers)
    if missing:
        raise RuntimeError(f"schema and resolvers disagree on {type_.name}: {sorted(missing)}")
    for name, resolver in resolvers.items():
        type_.fields[name].resolve = resolver


@cache
def public_schema() -> GraphQLSchema:
    schema = build_schema(schema_sdl())
    for name, rules in SCALARS.items():
        target = schema.type_map[name]
        assert isinstance(target, GraphQLScalarType)
        target.coerce_output_value = rules.output
        target.coerce_input_value = rules.input
        target.coerce_input_literal = rules.literal
    _attach(schema.mutation_type, MUTATIONS)
    _attach(schema.query_type, QUERIES)
    return schema
