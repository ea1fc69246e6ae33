"""The GraphQL endpoint (HTTP + WebSocket) and how it refuses what it cannot read.

Strawberry answers a request it cannot read with a text/plain 400, and some bodies it
does not expect (a JSON string, bytes that are not UTF-8, a multipart `map` that is not
an object) reach code that fails with a 500 and a traceback. Here every such request is
answered like any other GraphQL error, `{"errors": [{"message", "extensions": {"code"}}]}`
with a 4xx status, and nothing is logged: a client's mistake is not the server's news.
"""

from __future__ import annotations

import json
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.file_uploads.utils import replace_placeholders_with_files
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult
from strawberry.types.unset import UnsetType

from gql.connections import LegacyWSHandler, TransportWSHandler
from gql.connections import admit as admit_connection
from gql.context import Context
from imgflow.errors import ErrorCode
from imgflow.web.graphiql import graphiql_html

REQUEST_ERROR_CODES = frozenset({ErrorCode.OPERATION_NAME_REQUIRED.value})
"""Codes of errors in the request itself (nothing could run): answered with status 400,
as the GraphQL over HTTP spec asks, instead of 200."""


class RequestRefused(HTTPException):
    """An HTTP request refused before any GraphQL ran, with its public code."""

    def __init__(self, status_code: int, code: ErrorCode, reason: str) -> None:
        super().__init__(status_code, reason)
        self.code = code


def refusal_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status)


def code_for(error: HTTPException) -> str:
    if isinstance(error, RequestRefused):
        return error.code.value
    return ErrorCode.NOT_FOUND.value if error.status_code == 404 else ErrorCode.BAD_REQUEST.value


def bad_request(reason: str) -> RequestRefused:
    return RequestRefused(400, ErrorCode.BAD_REQUEST, reason)


def files_map(value: object) -> dict[str, list[str]]:
    """The multipart `map`: form field name -> object paths in `operations`."""
    if not isinstance(value, dict) or not all(
        isinstance(paths, list) and all(isinstance(path, str) for path in paths)
        for paths in value.values()
    ):
        raise bad_request("multipart `map` must be an object of field name -> list of paths")
    return value


class GraphQLApp(GraphQL[Context, None]):
    # WebSockets count against their user's connection limit (gql.connections).
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        response: Response
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as error:
            response = refusal_response(error.status_code, code_for(error), error.reason)
        await response(scope, receive, send)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        await admit_connection(context)
        return await super().on_ws_connect(context)

    async def get_context(self, request: Request | WebSocket, response: object) -> Context:
        return Context(services=request.app.state.services, request=request)

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(graphiql_html())

    def parse_json(self, data: str | bytes) -> Any:
        """A JSON object (or a list, refused later as a batch); anything else is 400."""
        try:
            value = json.loads(data)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep
            raise bad_request("the request holds JSON that is not valid (or not UTF-8)") from None
        if not isinstance(value, dict | list):
            raise bad_request("a GraphQL request must be a JSON object")
        return value

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """Strawberry checks `query`, `variables` and `extensions`; `operationName` too."""
        parsed = await super().parse_http_body(request)
        for data in parsed if isinstance(parsed, list) else [parsed]:
            if not isinstance(data.operation_name, str | None):
                raise bad_request("`operationName` must be a string or null")
        return parsed

    async def parse_multipart(self, request: AsyncHTTPRequestAdapter) -> dict[str, str]:
        """The GraphQL multipart request spec, each part checked before it is used."""
        try:
            form = await request.get_form_data()
        except (ValueError, StarletteHTTPException) as error:
            raise bad_request("the multipart body cannot be parsed") from error
        operations, mapping = form.form.get("operations"), form.form.get("map", "{}")
        if not isinstance(operations, str) or not isinstance(mapping, str):
            raise bad_request("multipart requests need `operations` and `map` text fields")
        parsed = self.parse_json(operations)
        paths = files_map(self.parse_json(mapping))
        missing = [name for name in paths if name not in form.files]
        if missing:
            raise bad_request(f"file part(s) missing from the form: {', '.join(missing)}")
        try:
            return replace_placeholders_with_files(parsed, paths, form.files)
        except (KeyError, IndexError, ValueError, TypeError):
            raise bad_request("a `map` path does not lead to a place in `operations`") from None

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        result = await super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )
        codes = {(error.extensions or {}).get("code") for error in result.errors or ()}
        if codes & REQUEST_ERROR_CODES:
            sub_response.status_code = 400
        return result
