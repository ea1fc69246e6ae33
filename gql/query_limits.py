"""Limits on what one GraphQL document may ask for, enforced while it is parsed and
validated: a refused document never reaches a resolver. Every request goes through
them, over HTTP and over WebSocket alike (strawberry validates subscriptions the same
way), each refusal with its own `extensions.code`:

- QUERY_TOO_LARGE: longer than `max_length` characters (checked before parsing, which
  costs time in proportion to the text), or more than `max_tokens` tokens (counted
  while lexing, before the syntax tree is built);
- before validation, a linear look at the document's shape (gql.shape): a field
  repeated too often in one selection set (QUERY_TOO_COMPLEX) or too many aliases
  written (TOO_MANY_ALIASES) is refused without running graphql-core's rules, whose
  cost grows with the square of the repeats;
- QUERY_TOO_DEEP: fields nested deeper than `max_depth`, or introspection nested
  deeper than graphql-core's own bound;
- TOO_MANY_ALIASES: more than `max_aliases` (each alias resolves a field once more);
- QUERY_TOO_COMPLEX: a cost over `max_complexity`, lists counted once per item they
  may return (see gql.measure);
- INTROSPECTION_DISABLED: `__schema` / `__type` when introspection is off; and then
  no error suggests a field, argument or type name ("Did you mean ...?"): they would
  give the schema away piece by piece.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, cast

from graphql import GraphQLError, OperationDefinitionNode, ValidationRule
from graphql.language.visitor import SKIP, VisitorAction
from graphql.validation import (
    ASTValidationRule,
    MaxIntrospectionDepthRule,
    NoSchemaIntrospectionCustomRule,
)
from strawberry.extensions import SchemaExtension

from gql.errors import with_code
from gql.measure import Measure, measure_operation
from gql.shape import ShapeLimits, shape_refusal
from imgflow.errors import ErrorCode
from imgflow.settings import Settings


@dataclass(frozen=True)
class QueryLimits:
    max_depth: int
    max_aliases: int
    max_complexity: int
    max_length: int
    max_tokens: int = 2_000
    max_field_repeats: int = 5
    introspection: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> QueryLimits:
        return cls(
            max_depth=settings.graphql_max_depth,
            max_aliases=settings.graphql_max_aliases,
            max_complexity=settings.graphql_max_complexity,
            max_length=settings.graphql_max_query_length,
            max_tokens=settings.graphql_max_tokens,
            max_field_repeats=settings.graphql_max_field_repeats,
            introspection=settings.introspection_enabled,
        )

    def refusals(self, measure: Measure) -> Iterator[tuple[ErrorCode, str]]:
        if measure.depth > self.max_depth:
            # A walk cut short at the depth limit under-counts the rest: stop here.
            yield ErrorCode.QUERY_TOO_DEEP, f"fields nest deeper than {self.max_depth} levels"
            return
        if measure.aliases > self.max_aliases:
            yield ErrorCode.TOO_MANY_ALIASES, f"more than {self.max_aliases} aliases"
        if measure.cost > self.max_complexity:
            yield (
                ErrorCode.QUERY_TOO_COMPLEX,
                f"the query would resolve up to {measure.cost} fields, more than "
                f"{self.max_complexity} (a field under `first: n` counts n times)",
            )


class LimitsRule(ValidationRule):
    """Measures each operation and refuses it when over a limit. Validation rules are
    classes graphql-core instantiates itself, so each request gets a subclass bound to
    the limits and to its own variables (`first: $n`)."""

    limits: ClassVar[QueryLimits]
    variables: ClassVar[Mapping[str, Any]]

    def enter_operation_definition(
        self, node: OperationDefinitionNode, *_args: object
    ) -> VisitorAction:
        schema, limits = self.context.schema, self.limits
        try:
            measure = measure_operation(
                node, schema, self.context.get_fragment, self.variables, limits.max_depth
            )
        except RecursionError:  # fragments spread in a chain too long to follow
            measure = Measure(depth=limits.max_depth + 1)
        for code, message in limits.refusals(measure):
            self.report_error(GraphQLError(message, node, extensions={"code": code.value}))
        return SKIP


def bound_rule(limits: QueryLimits, variables: Mapping[str, Any]) -> type[LimitsRule]:
    return cast(
        "type[LimitsRule]",
        type("BoundLimitsRule", (LimitsRule,), {"limits": limits, "variables": variables}),
    )


class CodedErrors(ASTValidationRule):
    """Mixed into one of graphql-core's rules: its errors carry our code."""

    code: ClassVar[ErrorCode]

    def report_error(self, error: GraphQLError) -> None:
        super().report_error(with_code(error, self.code.value))


class IntrospectionDisabled(CodedErrors, NoSchemaIntrospectionCustomRule):
    code = ErrorCode.INTROSPECTION_DISABLED
    reported = False

    def report_error(self, error: GraphQLError) -> None:
        if not self.reported:  # once per document, not once per introspection field
            self.reported = True
            super().report_error(error)


class IntrospectionTooDeep(CodedErrors, MaxIntrospectionDepthRule):
    """Introspection types refer to each other (`fields { type { fields ... } }`): a
    few lines could ask for the schema thousands of times over. Replaces the uncoded
    rule strawberry already runs."""

    code = ErrorCode.QUERY_TOO_DEEP


class GraphQLLimits(SchemaExtension):
    """Applies QueryLimits to every operation (one instance per request)."""

    def __init__(self, limits: QueryLimits) -> None:
        self.limits = limits

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        # graphql-core refuses a longer source before lexing it, and stops lexing past
        # the token limit; strawberry types the parse options it knows of only.
        options = cast("dict[str, object]", context.parse_options)
        options["max_source_length"] = self.limits.max_length
        options["max_lexical_tokens"] = self.limits.max_tokens
        standard = (r for r in context.validation_rules if r is not MaxIntrospectionDepthRule)
        context.validation_rules = (*standard, *self.rules(context.variables))
        yield
        if not self.limits.introspection:
            hide_suggestions(context.pre_execution_errors, context.result)

    def on_parse(self) -> Iterator[None]:
        yield
        context = self.execution_context
        if self.over_size(context.query or "", context.pre_execution_errors or ()):
            # The parse error graphql-core raised for it, as the limit's own code.
            for error in context.pre_execution_errors or ():
                code = ErrorCode.QUERY_TOO_LARGE.value
                error.extensions = {**(error.extensions or {}), "code": code}
        document = context.graphql_document
        if document is None or context.pre_execution_errors:
            return
        limits = self.limits
        shape = ShapeLimits(limits.max_field_repeats, limits.max_complexity, limits.max_aliases)
        refusal = shape_refusal(document, shape)
        if refusal is not None:
            code, message = refusal
            # Set before validation: strawberry then skips graphql-core's rules.
            context.pre_execution_errors = [GraphQLError(message, extensions={"code": code})]

    def over_size(self, query: str, errors: Iterable[GraphQLError]) -> bool:
        if len(query) > self.limits.max_length:
            return True
        too_many = f"more than {self.limits.max_tokens} tokens"
        return any(too_many in error.message for error in errors)

    def rules(self, variables: Mapping[str, Any] | None) -> tuple[type[ASTValidationRule], ...]:
        rules: list[type[ASTValidationRule]] = [
            bound_rule(self.limits, variables if isinstance(variables, Mapping) else {}),
            IntrospectionTooDeep,
        ]
        if not self.limits.introspection:
            rules.append(IntrospectionDisabled)
        return tuple(rules)


SUGGESTION = re.compile(r"\s*Did you mean .*\?\s*$", re.DOTALL)


def hide_suggestions(pre_execution: list[GraphQLError] | None, result: object) -> None:
    """Drops graphql-core's "Did you mean ...?" from every message (validation and
    variable coercion alike): with introspection off, names are not to be guessed."""
    errors = list(pre_execution or ()) + list(getattr(result, "errors", None) or ())
    for error in errors:
        error.message = SUGGESTION.sub("", error.message)


def limits_extension(settings: Settings) -> partial[GraphQLLimits]:
    """The schema extension factory for these settings (strawberry builds one per request)."""
    return partial(GraphQLLimits, QueryLimits.from_settings(settings))
