"""A cap on HTTP request bodies, enforced before they are read.

Without it a client could make the API read and parse a body of any size (multipart
parsing spools it to disk first). The cap is checked at once against Content-Length,
and counted chunk by chunk when the body is streamed without one (chunked transfer),
so the refusal comes as soon as the limit is passed, whatever the client still means
to send. The answer is 413 with `{"error": "PAYLOAD_TOO_LARGE", "message": ...}`.

A client that goes away before its body is all sent (a dropped mobile upload, a client
timeout) is no error of the server's: it is logged in one line, not as a traceback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imgflow.errors import ErrorCode

DISCONNECT: Message = {"type": "http.disconnect"}
log = logging.getLogger(__name__)


class BodySizeLimit:
    """ASGI middleware refusing request bodies over `max_bytes` with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            # Refused without reading a byte: the body is never asked for.
            await too_large(self.max_bytes)(scope, receive, send)
            return
        await CountedBody(self.max_bytes, scope, receive, send).run(self.app)


def declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def too_large(max_bytes: int) -> JSONResponse:
    message = f"request bodies are limited to {max_bytes} bytes"
    body = {"error": ErrorCode.PAYLOAD_TOO_LARGE.value, "message": message}
    # Closing the connection after the answer stops the server from taking in (and
    # throwing away) whatever the client still sends of the body.
    return JSONResponse(body, 413, headers={"Connection": "close"})


@dataclass
class CountedBody:
    """One request, its body counted as the application reads it. Past the limit the
    client gets the 413 at once, and the application sees the client disconnect
    (what it would see of a client gone mid-body): it stops reading and its own
    answer, should it still give one, is dropped."""

    max_bytes: int
    scope: Scope
    receive_from_client: Receive
    send_to_client: Send
    received: int = 0
    refused: bool = False
    response_started: bool = False
    client_gone: bool = False

    async def run(self, app: ASGIApp) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except Exception as error:
            if self.client_gone and isinstance(error, ClientDisconnect):
                path = self.scope["path"]
                log.info("client went away after %d bytes of its body to %s", self.received, path)
            elif not self.refused:
                raise
            # Else it failed on the disconnect made up at the refusal: no error of its own.

    async def receive(self) -> Message:
        if self.refused:
            return DISCONNECT
        message = await self.receive_from_client()
        if message["type"] == "http.disconnect":
            self.client_gone = True
        elif message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.max_bytes:
                await self.refuse()
                return DISCONNECT
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self.response_started = True
        await self.send_to_client(message)

    async def refuse(self) -> None:
        self.refused = True
        if not self.response_started:  # else the status is gone: cutting off is all left
            refusal = too_large(self.max_bytes)
            await refusal(self.scope, self.receive_from_client, self.send_to_client)
