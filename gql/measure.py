"""How much one GraphQL operation asks for: its depth, its aliases and its cost.

- depth: levels of nested fields; fragments add none.
- aliases: every alias the operation would resolve (a fragment counts once per use).
- cost: one per field; a field taking a `first` argument (a page of a connection,
  like `jobs(first:)`) multiplies the cost of its selection by that number, so pages
  inside pages multiply.

Introspection meta-fields (`__schema`, `__type`, `__typename`) count for none of
these: their nesting is bounded by graphql-core's MaxIntrospectionDepthRule, and
introspection as a whole can be switched off.

Each fragment is measured once however often it is spread, and no walk goes more than
`max_depth + 1` levels down, so measuring stays cheap whatever the document.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    NamedTypeNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    Undefined,
    coerce_input_value,
    get_named_type,
    is_input_type,
    type_from_ast,
    value_from_ast,
)

PAGE_ARGUMENT = "first"


@dataclass(frozen=True)
class Measure:
    depth: int = 0
    aliases: int = 0
    cost: int = 0

    def __add__(self, other: Measure) -> Measure:
        """Side by side, as siblings are: the deeper of the two, both aliases and costs."""
        return Measure(
            max(self.depth, other.depth), self.aliases + other.aliases, self.cost + other.cost
        )


def measure_operation(
    node: OperationDefinitionNode,
    schema: GraphQLSchema,
    fragment: Callable[[str], FragmentDefinitionNode | None],
    variables: Mapping[str, Any],
    max_depth: int,
) -> Measure:
    """`node` as the request would run it: its variables, else their defaults."""
    given = {**operation_defaults(node, schema), **variables}
    root = schema.get_root_type(node.operation)
    return Measurer(schema, fragment, given, max_depth).selections(
        node.selection_set, root, max_depth
    )


@dataclass
class Measurer:
    """Walks one operation; remembers each fragment's measure."""

    schema: GraphQLSchema
    fragment: Callable[[str], FragmentDefinitionNode | None]
    variables: dict[str, Any]
    max_depth: int
    _fragments: dict[str, Measure] = field(default_factory=dict)
    _visiting: set[str] = field(default_factory=set)

    def selections(
        self, node: SelectionSetNode | None, parent: GraphQLNamedType | None, room: int
    ) -> Measure:
        total = Measure()
        for selection in node.selections if node else ():
            total += self.selection(selection, parent, room)
        return total

    def selection(self, node: SelectionNode, parent: GraphQLNamedType | None, room: int) -> Measure:
        if isinstance(node, FieldNode):
            return self.field(node, parent, room)
        if isinstance(node, InlineFragmentNode):
            return self.selections(
                node.selection_set, self.narrowed(node.type_condition, parent), room
            )
        if isinstance(node, FragmentSpreadNode):
            return self.spread(node.name.value)
        return Measure()

    def field(self, node: FieldNode, parent: GraphQLNamedType | None, room: int) -> Measure:
        alias = 1 if node.alias else 0
        if node.name.value.startswith("__"):
            return Measure(aliases=alias)
        if room <= 0:
            # Already past the limit: one level more says so, without walking further.
            return Measure(depth=1, aliases=alias, cost=1)
        definition = field_definition(parent, node.name.value)
        child = get_named_type(definition.type) if definition else None
        inner = self.selections(node.selection_set, child, room - 1)
        size = self.page_size(node, definition)
        return Measure(inner.depth + 1, inner.aliases + alias, 1 + size * inner.cost)

    def spread(self, name: str) -> Measure:
        """A fragment measures the same wherever it is spread: measured once, on its own."""
        if name in self._fragments:
            return self._fragments[name]
        definition = self.fragment(name)
        if definition is None or name in self._visiting:
            return Measure()  # unknown or cyclic: other validation rules refuse it
        self._visiting.add(name)
        parent = self.narrowed(definition.type_condition, None)
        measure = self.selections(definition.selection_set, parent, self.max_depth)
        self._visiting.discard(name)
        self._fragments[name] = measure
        return measure

    def narrowed(
        self, condition: NamedTypeNode | None, parent: GraphQLNamedType | None
    ) -> GraphQLNamedType | None:
        return self.schema.get_type(condition.name.value) if condition else parent

    def page_size(self, node: FieldNode, definition: GraphQLField | None) -> int:
        """The `first` a field will be resolved with: literal, variable or default."""
        argument = definition.args.get(PAGE_ARGUMENT) if definition else None
        if argument is None:
            return 1
        arguments = node.arguments or ()
        given = next((a.value for a in arguments if a.name.value == PAGE_ARGUMENT), None)
        value = Undefined if given is None else value_from_ast(given, argument.type, self.variables)
        value = coerced(value, argument.type)  # a variable's raw JSON, e.g. 100.0 -> 100
        if not is_int(value):
            value = argument.default_value  # null or invalid: the resolver's default
        return max(value, 0) if is_int(value) else 1


def field_definition(parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        found: GraphQLField | None = parent.fields.get(name)
        return found
    return None


def operation_defaults(node: OperationDefinitionNode, schema: GraphQLSchema) -> dict[str, Any]:
    """Default values of the operation's variables: used where the request gives none."""
    defaults: dict[str, Any] = {}
    for definition in node.variable_definitions or ():
        variable_type = type_from_ast(schema, definition.type)
        if definition.default_value is None or not is_input_type(variable_type):
            continue
        value = value_from_ast(definition.default_value, variable_type)
        if value is not Undefined:
            defaults[definition.variable.name.value] = value
    return defaults


def coerced(value: Any, type_: GraphQLInputType) -> Any:
    """`value` as execution will see it; Undefined if execution will refuse it anyway."""
    if value is Undefined:
        return value
    try:
        return coerce_input_value(value, type_)
    except (GraphQLError, TypeError, ValueError):
        return Undefined


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
