"""WebSockets count against their user's connection limit from `connection_init` to close.

The user is known only once the client sends `connection_init` (the token is in its
payload, or in the upgrade request's Authorization header), so that is where a connection
is admitted: `admit`, called by the view's `on_ws_connect`. The handlers below add what
strawberry's own lack: a refusal that names its code, and the place given back when the
connection ends, however it ends.

A connection without a valid token is not counted: no user to count it against, and it
can run nothing (every subscription checks the token and answers UNAUTHENTICATED).
"""

from __future__ import annotations

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage as TransportInit,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ConnectionErrorMessage
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage as LegacyInit,
)

from gql.context import Context
from imgflow import quotas
from imgflow.errors import ImgflowError, is_transient

REFUSED_CLOSE_CODE = 4429
"""graphql-transport-ws has no message for a refused connection, only a close: this
code, with the error code first in the reason (`TOO_MANY_CONNECTIONS: ...`)."""
MAX_REASON_BYTES = 123  # the WebSocket protocol's limit on a close reason


async def admit(context: Context) -> None:
    """Take a place for this connection among its user's; TOO_MANY_CONNECTIONS when the
    user holds them all."""
    if context.token() is None:
        return
    try:
        user = await context.user()
    except ImgflowError:
        return  # a bad token: subscriptions will say UNAUTHENTICATED
    except Exception as error:
        if not is_transient(error):
            raise
        return  # the database is away: subscriptions will retry the token (UNAVAILABLE)
    context.connection = await quotas.open_connection(context.services, user.id)


async def release(context: Context) -> None:
    entry, context.connection = context.connection, None
    if entry is not None:
        await quotas.close_connection(context.services, entry)


def close_reason(refusal: ImgflowError) -> str:
    reason = f"{refusal.code.value}: {refusal.message}"
    return reason.encode()[:MAX_REASON_BYTES].decode(errors="ignore")


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws (the current protocol)."""

    async def handle(self) -> None:
        try:
            await super().handle()
        finally:
            await release(self.context)

    async def handle_connection_init(self, message: TransportInit) -> None:
        try:
            await super().handle_connection_init(message)
        except ImgflowError as refusal:  # from `admit`, before the connection_ack
            await self.websocket.close(code=REFUSED_CLOSE_CODE, reason=close_reason(refusal))


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """graphql-ws (subscriptions-transport-ws, the older protocol): it has a
    `connection_error` message, which carries the code."""

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
            await self.websocket.close(code=1011, reason="")
