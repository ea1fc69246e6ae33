"""A small async GraphQL client: JSON and multipart uploads over httpx, subscriptions
over graphql-transport-ws with `websockets`.

Every failure becomes one of three exceptions, so the commands map them to exit codes
in one place: `ApiError` (the service answered with a code), `Unreachable` (no
answer an imgflow API would give) and `Disconnected` (a live stream that was working
dropped; following it again is safe).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Subprotocol

TIMEOUT = httpx.Timeout(60.0, connect=10.0)
REFUSED_CLOSE_CODE = 4429
"""The service closes a WebSocket it refuses with this code and `CODE: message`."""

Data = dict[str, Any]


class ApiError(Exception):
    """The service refused or failed a request and said why with a stable code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Unreachable(Exception):
    """No usable answer: connection refused, DNS, TLS, timeouts, or a response that is
    not an imgflow API's (a proxy's error page, a wrong URL)."""


class Disconnected(Exception):
    """A subscription that was running lost its connection."""


def normalized_url(text: str) -> str:
    """`http(s)://host[:port][/prefix]`, without a trailing `/` or `/graphql`: the key the
    token is stored under, whichever way the user wrote it. ValueError if unusable."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected http://HOST[:PORT] or https://..., got {text!r}")
    _ = parts.port  # raises ValueError for a port that is not a number
    path = parts.path.rstrip("/").removesuffix("/graphql").rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def error_of(errors: list[Any]) -> ApiError:
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    code = (first.get("extensions") or {}).get("code") or "GRAPHQL_ERROR"
    return ApiError(str(code), str(first.get("message") or "no message"))


@dataclass
class Api:
    """The service at `base_url`, as one user (`token`) or anonymously."""

    base_url: str
    token: str | None = None
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=TIMEOUT))

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/graphql"

    @property
    def websocket_url(self) -> str:
        return "ws" + self.graphql_url.removeprefix("http")  # http -> ws, https -> wss

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def close(self) -> None:
        await self.http.aclose()

    async def execute(self, query: str, variables: Data | None = None) -> Data:
        body = {"query": query, "variables": variables or {}}
        return await self._post(json=body)

    async def upload(self, query: str, variables: Data, file_variable: str, path: Path) -> Data:
        """The GraphQL multipart request spec: `variables[file_variable]` is the file."""
        operations = {"query": query, "variables": {**variables, file_variable: None}}
        form = {
            "operations": json.dumps(operations),
            "map": json.dumps({"0": [f"variables.{file_variable}"]}),
        }
        with path.open("rb") as handle:
            # The service identifies the format from the bytes; the type is a formality.
            files = {"0": (path.name, handle, "application/octet-stream")}
            return await self._post(data=form, files=files)

    async def _post(self, **request: Any) -> Data:
        try:
            response = await self.http.post(self.graphql_url, headers=self.auth_headers, **request)
        except httpx.HTTPError as error:
            raise Unreachable(f"cannot reach {self.base_url}: {reason(error)}") from None
        return self._data(response)

    def _data(self, response: httpx.Response) -> Data:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise Unreachable(
                f"{self.graphql_url} answered HTTP {response.status_code}, "
                "not GraphQL: is this the address of an imgflow API?"
            )
        if body.get("errors"):
            raise error_of(body["errors"])
        if isinstance(body.get("error"), str):  # refusals before GraphQL, e.g. 413
            raise ApiError(body["error"], f"HTTP {response.status_code}")
        if not isinstance(body.get("data"), dict):
            raise Unreachable(f"{self.graphql_url} answered without data: {response.text[:200]}")
        return dict(body["data"])

    async def subscribe(self, query: str, variables: Data | None = None) -> AsyncIterator[Data]:
        """Each `next` payload's data until the server completes the subscription."""
        try:
            async with connect(
                self.websocket_url,
                subprotocols=[Subprotocol("graphql-transport-ws")],
                open_timeout=TIMEOUT.connect,
            ) as socket:
                await self._start(socket, query, variables or {})
                async for data in self._events(socket):
                    yield data
        except ConnectionClosed as closed:
            raise self._closed(closed) from None
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as error:
            raise Unreachable(f"cannot follow on {self.websocket_url}: {reason(error)}") from None

    async def _start(self, socket: ClientConnection, query: str, variables: Data) -> None:
        # The token goes in connection_init's payload, as graphql-ws clients send it.
        await socket.send(json.dumps({"type": "connection_init", "payload": self.auth_headers}))
        ack = json.loads(await socket.recv())
        if ack.get("type") != "connection_ack":
            raise Unreachable(f"{self.websocket_url} did not accept the connection: {ack}")
        payload = {"query": query, "variables": variables}
        message = {"id": str(uuid.uuid4()), "type": "subscribe", "payload": payload}
        await socket.send(json.dumps(message))

    async def _events(self, socket: ClientConnection) -> AsyncIterator[Data]:
        async for raw in socket:
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "ping":
                await socket.send(json.dumps({"type": "pong"}))
            elif kind == "next":
                payload = message.get("payload") or {}
                if payload.get("errors"):
                    raise error_of(payload["errors"])
                yield dict(payload.get("data") or {})
            elif kind == "error":
                raise error_of(message.get("payload") or [])
            elif kind == "complete":
                return
        raise Disconnected(f"{self.websocket_url} closed the stream")

    def _closed(self, closed: ConnectionClosed) -> Exception:
        received = closed.rcvd
        if received is not None and received.code == REFUSED_CLOSE_CODE:
            code, _, message = received.reason.partition(": ")
            return ApiError(code, message)
        return Disconnected(f"connection to {self.websocket_url} lost ({closed})")


def reason(error: BaseException) -> str:
    """The most telling words for a failure: the OS error at the bottom of the chain
    (httpx and anyio wrap it: "All connection attempts failed" hides "Connection refused")."""
    cause: BaseException | None = error
    deepest: OSError | None = None
    while cause is not None:
        if isinstance(cause, OSError):
            deepest = cause
        cause = cause.__cause__ or cause.__context__
    if deepest is not None and deepest.errno is not None and deepest.errno > 0:
        return os.strerror(deepest.errno)
    if deepest is not None and deepest.strerror:
        return deepest.strerror  # e.g. a DNS failure: "Name or service not known"
    if isinstance(error, TimeoutError | httpx.TimeoutException):
        return "timed out"
    return str(error) or type(error).__name__
