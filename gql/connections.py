"""WebSockets: who may open one, how many, and how long its credentials hold.

The user is known only once the client sends `connection_init` (the token is in its
payload, or in the upgrade request's Authorization header), so that is where a connection
is admitted (`admit`, called by the view's `on_ws_connect`):

- a token that is not valid (expired, forged, its account disabled or deleted) is
  refused there: the socket is closed with 4403 and `UNAUTHENTICATED: ...` as reason;
- a valid token takes a place among its user's connections (TOO_MANY_CONNECTIONS,
  4429, when the user holds them all);
- no token at all takes a place among its client address's anonymous connections
  (they can only register and sign in), capped the same way.

A socket lives much longer than its first check, so an admitted principal is checked
again before every operation, and by a watchdog every `websocket_recheck_seconds` (and
at the token's expiry): once the account is disabled or deleted, or the token expired,
each running operation ends with an UNAUTHENTICATED error and the socket is closed with
4401, without waiting for the client to do anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from graphql import GraphQLError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage as TransportInit,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ErrorMessage,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ConnectionErrorMessage, StartMessage
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage as LegacyInit,
)

from gql.context import Context
from imgflow.accounts import quotas
from imgflow.errors import ErrorCode, ImgflowError, is_transient

log = logging.getLogger(__name__)

REFUSED_CLOSE_CODE = 4429
"""graphql-transport-ws has no message for a refused connection, only a close: this
code, with the error code first in the reason (`TOO_MANY_CONNECTIONS: ...`)."""
FORBIDDEN_CLOSE_CODE = 4403
"""`connection_init` carried a token that is not valid: refused before the ack."""
UNAUTHORIZED_CLOSE_CODE = 4401
"""The socket's account or token stopped being valid while it was open."""
MAX_REASON_BYTES = 123  # the WebSocket protocol's limit on a close reason
EXPIRY_MARGIN_SECONDS = 0.05
"""Checked just after the token's expiry, when the token library sees it expired."""


async def admit(context: Context) -> None:
    """Take a place for this connection among its user's (or, without a token, its
    address's); refuses a token that is not valid."""
    services = context.services
    if context.token() is None:
        context.connection = await quotas.open_anonymous_connection(
            services, context.client_address
        )
        return
    try:
        user = await context.user()
    except ImgflowError:
        raise  # UNAUTHENTICATED: closed with 4403 by the handler
    except Exception as error:
        if not is_transient(error):
            raise
        return  # the database is away: the watchdog and each operation check again
    context.connection = await quotas.open_connection(services, user.id)


async def release(context: Context) -> None:
    entry, context.connection = context.connection, None
    if entry is not None:
        await quotas.close_connection(context.services, entry)


def close_reason(refusal: ImgflowError) -> str:
    reason = f"{refusal.code.value}: {refusal.message}"
    return reason.encode()[:MAX_REASON_BYTES].decode(errors="ignore")


def refusal_close_code(refusal: ImgflowError) -> int:
    if refusal.code is ErrorCode.UNAUTHENTICATED:
        return FORBIDDEN_CLOSE_CODE
    return REFUSED_CLOSE_CODE


async def principal_gone(context: Context) -> ImgflowError | None:
    """UNAUTHENTICATED if the socket's token or account is no longer good; None while
    it is, for sockets without a token, or when the database cannot say right now."""
    if context.token() is None:
        return None
    try:
        await context.recheck_user()
    except ImgflowError as refusal:
        return refusal
    except Exception as error:
        if not is_transient(error):
            raise
    return None


def seconds_to_next_check(context: Context) -> float:
    interval = context.services.settings.websocket_recheck_seconds
    expires = context.token_expires_at()
    if expires is None:
        return interval
    left = (expires - datetime.now(UTC)).total_seconds() + EXPIRY_MARGIN_SECONDS
    return min(interval, max(EXPIRY_MARGIN_SECONDS, left))


def error_message(operation_id: str, refusal: ImgflowError) -> ErrorMessage:
    """graphql-transport-ws `error`: ends that operation, with the refusal's code."""
    error = GraphQLError(refusal.message, extensions={"code": refusal.code.value})
    return {"id": operation_id, "type": "error", "payload": [error.formatted]}


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws (the current protocol)."""

    watchdog: asyncio.Task[None] | None = None

    async def handle(self) -> None:
        try:
            await super().handle()
        finally:
            await self.stop_watchdog()
            await release(self.context)

    async def handle_connection_init(self, message: TransportInit) -> None:
        try:
            await super().handle_connection_init(message)
        except ImgflowError as refusal:  # from `admit`, before the connection_ack
            code = refusal_close_code(refusal)
            await self.websocket.close(code=code, reason=close_reason(refusal))
            return
        if self.connection_acknowledged and self.watchdog is None and self.context.token():
            self.watchdog = asyncio.create_task(self.watch_principal())

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged:
            if (refusal := await principal_gone(self.context)) is not None:
                await self.end_connection(refusal)
                return
            if self.socket_is_full(message["id"]):
                await self.refuse_operation(message["id"])
                return
        await super().handle_subscribe(message)

    def socket_is_full(self, operation_id: str) -> bool:
        limit = self.max_subscriptions_per_connection
        return (
            limit is not None
            and operation_id not in self.operations
            and len(self.operations) >= limit
        )

    async def refuse_operation(self, operation_id: str) -> None:
        limit = self.max_subscriptions_per_connection
        refusal = ImgflowError(
            ErrorCode.TOO_MANY_SUBSCRIPTIONS,
            f"at most {limit} operations may run at once on one WebSocket",
        )
        await self.send_message(error_message(operation_id, refusal))

    async def watch_principal(self) -> None:
        while True:
            await asyncio.sleep(seconds_to_next_check(self.context))
            if (refusal := await principal_gone(self.context)) is not None:
                await self.end_connection(refusal)
                return

    async def end_connection(self, refusal: ImgflowError) -> None:
        """Every running operation ends with the refusal's code, then the socket closes."""
        for operation in list(self.operations.values()):
            with contextlib.suppress(Exception):  # the client may be gone already
                await operation.send_operation_message(error_message(operation.id, refusal))
        with contextlib.suppress(Exception):
            await self.websocket.close(code=UNAUTHORIZED_CLOSE_CODE, reason=close_reason(refusal))

    async def stop_watchdog(self) -> None:
        task, self.watchdog = self.watchdog, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """graphql-ws (subscriptions-transport-ws, the older protocol): it has a
    `connection_error` message, which carries the code. Its principal is checked
    again before every operation; a socket whose principal is gone is closed (4401)."""

    async def handle(self) -> None:
        try:
            await super().handle()
        finally:
            await release(self.context)

    async def handle_connection_init(self, message: LegacyInit) -> None:
        try:
            await super().handle_connection_init(message)
        except ImgflowError as refusal:
            error: ConnectionErrorMessage = {
                "type": "connection_error",
                "payload": {"message": refusal.message, "extensions": {"code": refusal.code}},
            }
            await self.send_message(error)
            await self.websocket.close(code=refusal_close_code(refusal), reason="")

    async def handle_start(self, message: StartMessage) -> None:
        refusal = await principal_gone(self.context) if self.connection_acknowledged else None
        if refusal is not None:
            await self.websocket.close(code=UNAUTHORIZED_CLOSE_CODE, reason=close_reason(refusal))
            return
        await super().handle_start(message)
