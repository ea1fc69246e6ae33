"""GraphQL limits measured on a schema made for it: pages inside pages, fragments,
variables. (The real schema has one paged list; tests/api/test_query_limits.py runs
the limits through a real server.)"""

from __future__ import annotations

import time
from typing import Any

import strawberry
from graphql import GraphQLError

from gql.query_limits import GraphQLLimits, QueryLimits

LIMITS = QueryLimits(max_depth=6, max_aliases=3, max_complexity=1000, max_length=5000)


@strawberry.type
class Item:
    id: int

    @strawberry.field
    def children(self, first: int = 10) -> list[Item]:
        return [Item(id=self.id * 100 + n) for n in range(first)]


@strawberry.type
class Query:
    @strawberry.field
    def items(self, first: int = 10) -> list[Item]:
        return [Item(id=n) for n in range(first)]

    @strawberry.field
    def hello(self) -> str:
        return "world"


def schema(limits: QueryLimits = LIMITS) -> strawberry.Schema:
    return strawberry.Schema(query=Query, extensions=[lambda: GraphQLLimits(limits)])


def run(query: str, variables: dict[str, Any] | None = None, limits: QueryLimits = LIMITS) -> Any:
    return schema(limits).execute_sync(query, variable_values=variables)


def codes(errors: list[GraphQLError] | None) -> list[str]:
    return [str((error.extensions or {}).get("code")) for error in errors or []]


def test_pages_inside_pages_multiply() -> None:
    # 1 + 10 * (1 + 1 + 10 * (1 + 1 + 10 * 1)) = 1221 > 1000; each level alone is cheap.
    query = "{ items(first: 10) { id children(first: 10) { id children(first: 10) { id } } } }"
    result = run(query)
    assert codes(result.errors) == ["QUERY_TOO_COMPLEX"]
    assert result.data is None
    assert run(query.replace("first: 10) { id } }", "first: 5) { id } }")).errors is None


def test_page_size_from_variables_and_their_defaults() -> None:
    # 1 + n * (1 + n): 931 for 30, 1641 for 40.
    query = "query($n: Int) { items(first: $n) { children(first: $n) { id } } }"
    assert run(query, {"n": 30}).errors is None
    assert codes(run(query, {"n": 40}).errors) == ["QUERY_TOO_COMPLEX"]
    with_default = "query($n: Int = 40) { items(first: $n) { children(first: $n) { id } } }"
    assert codes(run(with_default).errors) == ["QUERY_TOO_COMPLEX"]
    # Without `first` the field's own default (10) counts: 1 + 10 * (1 + 10) = 111.
    assert run("{ items { children { id } } }").errors is None


def test_fragments_count_once_per_spread_and_are_measured_once() -> None:
    # 2^24 uses of `id` through 24 fragments each spreading the next one twice: the
    # cost is enormous, and measuring it still takes one walk per fragment.
    fragments = [f"fragment F{i} on Item {{ ...F{i + 1} ...F{i + 1} }}" for i in range(24)]
    fragments.append("fragment F24 on Item { id }")
    query = "{ items(first: 1) { ...F0 } } " + " ".join(fragments)
    started = time.monotonic()
    result = run(query)
    assert time.monotonic() - started < 1.0
    assert codes(result.errors) == ["QUERY_TOO_COMPLEX"]


def test_depth_counts_fields_not_fragments() -> None:
    def nested(levels: int) -> str:
        inner = "id"
        for _ in range(levels - 2):
            inner = f"children(first: 1) {{ {inner} }}"
        return f"{{ items(first: 1) {{ {inner} }} }}"

    assert run(nested(6)).errors is None
    assert codes(run(nested(7)).errors) == ["QUERY_TOO_DEEP"]
    via_fragments = "{ items(first: 1) { ...A } } fragment A on Item { ... on Item { id } }"
    assert run(via_fragments).errors is None


def test_aliases_are_counted_through_fragments() -> None:
    query = "{ a: hello ...H } fragment H on Query { b: hello c: hello d: hello }"
    assert codes(run(query).errors) == ["TOO_MANY_ALIASES"]
    assert run("{ a: hello ...H } fragment H on Query { b: hello c: hello }").errors is None


def test_introspection_fields_do_not_count_but_nesting_them_is_bounded() -> None:
    small = QueryLimits(max_depth=2, max_aliases=0, max_complexity=5, max_length=5000)
    assert run("{ __schema { types { fields { type { name } } } } }", limits=small).errors is None
    bomb = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    assert codes(run(bomb).errors) == ["QUERY_TOO_DEEP"]


def test_introspection_can_be_switched_off() -> None:
    closed = QueryLimits(6, 3, 1000, 5000, introspection=False)
    result = run("{ __schema { queryType { name } types { name } } }", limits=closed)
    assert codes(result.errors) == ["INTROSPECTION_DISABLED"]
    assert run("{ __typename hello }", limits=closed).errors is None


def test_a_long_document_is_refused_before_parsing() -> None:
    query = "{ hello }" + " " * 5000
    assert codes(run(query).errors) == ["QUERY_TOO_LARGE"]
    assert run("{ hello }").errors is None


def test_page_size_as_execution_coerces_it() -> None:
    query = "query($n: Int) { items(first: $n) { children(first: $n) { id } } }"
    assert codes(run(query, {"n": 40.0}).errors) == ["QUERY_TOO_COMPLEX"]  # 40.0 runs as 40
