"""A cheap look at a parsed document's shape, before graphql-core validates it.

Validation costs more than its size suggests: the OverlappingFieldsCanBeMerged rule
compares every pair of fields that share a response name in one selection set
(fragments merged in), and then their sub-selections pair by pair, so
`{ me{id} me{id} ... }` repeated 2,500 times (18 KB) takes seconds of CPU, on the event
loop, before imgflow's own limits (gql.query_limits, which run inside validation) could
refuse it. This walk merges fields as execution would (same response name, one
selection set, inline fragments and fragment spreads included, sub-selections merged
level by level) and refuses:

- QUERY_TOO_COMPLEX: a response name selected more than `max_repeats` times in one
  merged selection set, or more fields, fragments expanded, than `max_fields` (the
  complexity limit counts at least as many);
- TOO_MANY_ALIASES: more aliases written in the document than `max_aliases`. Every
  fragment of a valid document is used, so validation would count at least as many;
  counted here because aliases are what give fields distinct names to compare.

Its work is bounded by `max_fields`; with the token limit (graphql-core's
`max_lexical_tokens`, applied while parsing) it bounds what validation can cost.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    ExecutableDefinitionNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)

from imgflow.errors import ErrorCode

Refusal = tuple[ErrorCode, str]
Group = Sequence[SelectionSetNode]
"""Selection sets merged into one: the sub-selections of same-named fields."""


@dataclass(frozen=True)
class ShapeLimits:
    max_repeats: int
    max_fields: int
    max_aliases: int


def shape_refusal(document: DocumentNode, limits: ShapeLimits) -> Refusal | None:
    """The first reason to refuse the document before validation, or None."""
    aliases = sum(1 for node in field_nodes(document) if node.alias)
    if aliases > limits.max_aliases:
        return ErrorCode.TOO_MANY_ALIASES, f"more than {limits.max_aliases} aliases"
    fragments = {
        node.name.value: node
        for node in document.definitions
        if isinstance(node, FragmentDefinitionNode)
    }
    pending: list[Group] = [
        [node.selection_set]
        for node in document.definitions
        if isinstance(node, ExecutableDefinitionNode)
    ]
    visited = 0
    while pending:
        merged = merge(pending.pop(), fragments)
        for name, fields in merged.items():
            if len(fields) > limits.max_repeats:
                return (
                    ErrorCode.QUERY_TOO_COMPLEX,
                    f"`{name}` is selected {len(fields)} times in one selection set "
                    f"(fragments included); at most {limits.max_repeats}",
                )
            visited += len(fields)
            children = [field.selection_set for field in fields if field.selection_set]
            if children:
                pending.append(children)
        if visited > limits.max_fields:
            return (
                ErrorCode.QUERY_TOO_COMPLEX,
                f"the document selects more than {limits.max_fields} fields, fragments expanded",
            )
    return None


def field_nodes(document: DocumentNode) -> list[FieldNode]:
    """Every field written in the document (iterative: no recursion limit to meet)."""
    found: list[FieldNode] = []
    pending = [
        node.selection_set
        for node in document.definitions
        if isinstance(node, ExecutableDefinitionNode)
    ]
    while pending:
        for node in pending.pop().selections:
            if isinstance(node, FieldNode):
                found.append(node)
            child = getattr(node, "selection_set", None)
            if isinstance(child, SelectionSetNode):
                pending.append(child)
    return found


def merge(group: Group, fragments: dict[str, FragmentDefinitionNode]) -> dict[str, list[FieldNode]]:
    """The fields of these selection sets by response name, with their inline
    fragments' and spread fragments' fields (each fragment once, as graphql-core
    collects them by name)."""
    merged: defaultdict[str, list[FieldNode]] = defaultdict(list)
    spread: set[str] = set()
    pending = list(group)
    while pending:
        for node in pending.pop().selections:
            if isinstance(node, FieldNode):
                merged[(node.alias or node.name).value].append(node)
            elif isinstance(node, InlineFragmentNode):
                pending.append(node.selection_set)
            elif isinstance(node, FragmentSpreadNode):
                fragment = node.name.value
                if fragment not in spread and fragment in fragments:
                    spread.add(fragment)
                    pending.append(fragments[fragment].selection_set)
    return merged
