"""Which requests the transports take: subscriptions over WebSocket only, and one
operation per request, named when the document holds several.

Strawberry accepts a subscription document in a plain HTTP POST (for its multipart
streaming protocol, which imgflow does not serve) and then fails inside execution with
an internal error. Refusing it up front gives the client a code and the log no
traceback anyone could provoke.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import ExecutionResult, GraphQLError, OperationDefinitionNode
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from gql.context import Context
from imgflow.errors import ErrorCode

OPERATION_NAME_MESSAGE = "the document holds several operations: name one in `operationName`"
MESSAGE = "subscriptions run over a WebSocket (graphql-transport-ws) at /graphql, not HTTP"


class SubscriptionsOverWebSocket(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        context = execution.context
        over_http = isinstance(context, Context) and not isinstance(context.request, WebSocket)
        if over_http and execution.operation_type is OperationType.SUBSCRIPTION:
            refusal = GraphQLError(MESSAGE, extensions={"code": ErrorCode.BAD_USER_INPUT.value})
            execution.result = ExecutionResult(data=None, errors=[refusal])
        yield


class OneOperationOrNamed(SchemaExtension):
    """A document with several operations must say which to run (`operationName`), as
    the GraphQL over HTTP spec requires; strawberry would otherwise run the first.
    Refused before validation with OPERATION_NAME_REQUIRED (400 over HTTP, see
    gql.view; an `error` message over WebSocket)."""

    def on_operation(self) -> Iterator[None]:
        # Before parsing, `operation_name` is only what the request gave.
        self.named = self.execution_context.operation_name is not None
        yield

    def on_parse(self) -> Iterator[None]:
        yield
        execution = self.execution_context
        document = execution.graphql_document
        if document is None or execution.pre_execution_errors or self.named:
            return
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) > 1:
            code = ErrorCode.OPERATION_NAME_REQUIRED.value
            refusal = GraphQLError(OPERATION_NAME_MESSAGE, extensions={"code": code})
            execution.pre_execution_errors = [refusal]
