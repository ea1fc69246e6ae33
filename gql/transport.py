"""Subscriptions run over WebSocket only.

Strawberry accepts a subscription document in a plain HTTP POST (for its multipart
streaming protocol, which imgflow does not serve) and then fails inside execution with
an internal error. Refusing it up front gives the client a code and the log no
traceback anyone could provoke.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import ExecutionResult, GraphQLError
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from gql.context import Context
from imgflow.errors import ErrorCode

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
