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
from functools import lru_cache, partial
from typing import ClassVar, cast

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    parse,
    validate,
)
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


def measure_refusals(
    document: DocumentNode, schema: GraphQLSchema, limits: QueryLimits, variables: object
) -> list[GraphQLError]:
    """Each operation measured with this request's variables (`first: $n`) and refused
    when over a limit. Run before validation, from the syntax tree alone, so the rules
    graphql-core runs are the same for every request and their answer can be reused."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    given = variables if isinstance(variables, Mapping) else {}
    errors = []
    for node in document.definitions:
        if not isinstance(node, OperationDefinitionNode):
            continue
        try:
            measure = measure_operation(node, schema, fragments.get, given, limits.max_depth)
        except RecursionError:  # fragments spread in a chain too long to follow
            measure = Measure(depth=limits.max_depth + 1)
        for code, message in limits.refusals(measure):
            errors.append(GraphQLError(message, node, extensions={"code": code.value}))
    return errors


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


class DocumentCache:
    """Parsed documents and their validation answers, reused across requests: clients
    send the same few documents again and again, and parsing plus graphql-core's ~30
    rules cost more than the rest of a request. Bounded (LRU), so unique documents
    cannot grow memory; a document is only cached once it parsed within the limits."""

    SIZE = 256

    def __init__(self) -> None:
        self.parse = lru_cache(maxsize=self.SIZE)(self._parse)
        self.validate = lru_cache(maxsize=self.SIZE)(self._validate)

    @staticmethod
    def _parse(query: str, max_tokens: int) -> DocumentNode:
        return parse(query, max_tokens=max_tokens)

    def _validate(
        self, schema: GraphQLSchema, query: str, max_tokens: int, rules: RuleSet
    ) -> list[GraphQLError]:
        return validate(schema, self.parse(query, max_tokens), rules)


RuleSet = tuple[type[ASTValidationRule], ...]


class GraphQLLimits(SchemaExtension):
    """Applies QueryLimits to every operation (one instance per request)."""

    def __init__(self, limits: QueryLimits, cache: DocumentCache | None = None) -> None:
        self.limits = limits
        self.cache = cache or DocumentCache()  # pass the app's own to reuse answers
        self.cached_document = False

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        # graphql-core refuses a longer source before lexing it, and stops lexing past
        # the token limit; strawberry types the parse options it knows of only.
        options = cast("dict[str, object]", context.parse_options)
        options["max_source_length"] = self.limits.max_length
        options["max_lexical_tokens"] = self.limits.max_tokens
        context.validation_rules = validation_rules(tuple(context.validation_rules), self.limits)
        yield
        if not self.limits.introspection:
            hide_suggestions(context.pre_execution_errors, context.result)

    def on_parse(self) -> Iterator[None]:
        self.use_cached_document()
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
        # Set before validation: strawberry then skips graphql-core's rules.
        context.pre_execution_errors = self.refusals(document) or None

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if self.cached_document and context.pre_execution_errors is None:
            # The same document under the same rules gets the same answer.
            answer = self.cache.validate(
                context.schema._schema,
                context.query or "",
                self.limits.max_tokens,
                tuple(context.validation_rules),
            )
            context.pre_execution_errors = list(answer)  # the cached list stays as it is
        yield

    def use_cached_document(self) -> None:
        context = self.execution_context
        query = context.query
        if context.graphql_document is not None or not query:
            return
        if len(query) > self.limits.max_length:
            return  # strawberry's parse refuses it, with the limit's message
        try:
            context.graphql_document = self.cache.parse(query, self.limits.max_tokens)
        except GraphQLError:
            return  # strawberry parses it again and answers with the error
        self.cached_document = True

    def refusals(self, document: DocumentNode) -> list[GraphQLError]:
        limits = self.limits
        shape = ShapeLimits(limits.max_field_repeats, limits.max_complexity, limits.max_aliases)
        refusal = shape_refusal(document, shape)
        if refusal is not None:
            code, message = refusal
            return [GraphQLError(message, extensions={"code": code})]
        schema = self.execution_context.schema._schema
        return measure_refusals(document, schema, limits, self.execution_context.variables)

    def over_size(self, query: str, errors: Iterable[GraphQLError]) -> bool:
        if len(query) > self.limits.max_length:
            return True
        too_many = f"more than {self.limits.max_tokens} tokens"
        return any(too_many in error.message for error in errors)


@lru_cache(maxsize=16)
def validation_rules(standard: Iterable[type[ASTValidationRule]], limits: QueryLimits) -> RuleSet:
    """strawberry's rules with introspection's depth rule coded, and introspection
    refused when off: the same tuple for every request, so validation answers can be
    reused (imgflow's own limits are measured before validation)."""
    rules = [r for r in standard if r is not MaxIntrospectionDepthRule]
    rules.append(IntrospectionTooDeep)
    if not limits.introspection:
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
    """The schema extension factory for these settings (strawberry builds one per request;
    the document cache is the app's)."""
    return partial(GraphQLLimits, QueryLimits.from_settings(settings), DocumentCache())
