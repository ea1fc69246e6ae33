"""Counts GraphQL operations (by type and name) and the errors sent back (by code).

Error codes are read through `classify`, which gives the code a client receives
whether or not ErrorCodes has rewritten the error yet: the count does not depend on
the order extensions run in. Results streamed over a WebSocket (subscription events,
queries sent that way) are counted one by one, as MaskErrors processes them.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionResult, StreamExecutionResult

from gql.context import Context
from gql.errors import INTERNAL, classify
from imgflow.errors import ErrorCode
from imgflow.metrics import Metrics

KNOWN_CODES = frozenset({*(code.value for code in ErrorCode), INTERNAL})
OTHER_CODE = "OTHER"
UNKNOWN_TYPE = "unknown"
"""An operation refused before its type was known (unparsable, no such operation)."""


def error_code(error: GraphQLError) -> str:
    code = str((classify(error).extensions or {}).get("code"))
    return code if code in KNOWN_CODES else OTHER_CODE


class OperationMetrics(SchemaExtension):
    """One instance per operation (strawberry builds extensions per request)."""

    def __init__(self) -> None:
        self.streamed = False

    def metrics(self) -> Metrics | None:
        # The served app's context carries the process's services; a schema executed
        # without them has nothing to count into.
        context = self.execution_context.context
        return context.services.metrics if isinstance(context, Context) else None

    def on_operation(self) -> Iterator[None]:
        try:
            yield
        finally:
            metrics = self.metrics()
            if metrics is not None:
                self.count_operation(metrics)

    def count_operation(self, metrics: Metrics) -> None:
        context = self.execution_context
        try:
            operation_type = context.operation_type.value
        except RuntimeError:  # no document, or no operation of that name in it
            operation_type = UNKNOWN_TYPE
        metrics.graphql_operation(operation_type, context.operation_name)
        result = context.result
        if not self.streamed and isinstance(result, GraphQLExecutionResult | ExecutionResult):
            count_errors(metrics, result.errors)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        self.streamed = True
        metrics = self.metrics()
        if metrics is not None and isinstance(result, ExecutionResult):
            count_errors(metrics, result.errors)
        yield None


def count_errors(metrics: Metrics, errors: list[GraphQLError] | None) -> None:
    for error in errors or ():
        metrics.graphql_error(error_code(error))
