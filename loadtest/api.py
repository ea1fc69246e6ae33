"""The public API as a client sees it: GraphQL over HTTP (sign-in, multipart submit,
downloads) and the `jobUpdated` subscription over graphql-transport-ws."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from loadtest.mix import JobSpec
from loadtest.results import JobFailure

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})

SUBMIT = """
mutation Submit(
  $file: Upload!, $operations: [OperationInput!]!, $variants: [VariantInput!],
  $srcset: SrcsetInput
) {
  submitImage(file: $file, operations: $operations, variants: $variants, srcset: $srcset) {
    id status queue
  }
}
"""
WATCH = """
subscription Watch($id: ID!) {
  jobUpdated(id: $id) {
    status queue result { url format width height } error { code message }
    outputs { name srcsetWidth image { width } }
  }
}
"""
REGISTER = """
mutation($e: String!, $p: String!) { register(email: $e, password: $p) { token } }
"""
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"


def graphql_data(response: httpx.Response, field_name: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise JobFailure(f"HTTP_{response.status_code}", response.text[:200]) from None
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        raise JobFailure(error_code(errors[0]), str(errors[0].get("message")))
    if response.status_code != 200 or not body.get("data"):
        raise JobFailure(f"HTTP_{response.status_code}", response.text[:200])
    return dict(body["data"][field_name])


def error_code(error: dict[str, Any]) -> str:
    return str((error.get("extensions") or {}).get("code") or "GRAPHQL_ERROR")


@dataclass
class Api:
    """The public API as a client sees it: GraphQL over HTTP, subscriptions over WS."""

    base_url: str
    http: httpx.AsyncClient
    token: str = ""

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/graphql"

    async def sign_in(self, email: str | None, password: str | None) -> None:
        if email is None:
            # A fresh user per run: no setup, and runs never see each other's jobs.
            email = f"loadtest-{uuid.uuid4().hex[:12]}@example.com"
            query, name, password = REGISTER, "register", secrets.token_urlsafe(16)
        else:
            query, name = LOGIN, "login"
        variables = {"e": email, "p": password}
        response = await self.http.post(
            self.graphql_url, json={"query": query, "variables": variables}
        )
        self.token = str(graphql_data(response, name)["token"])

    async def submit(self, spec: JobSpec) -> dict[str, Any]:
        payload = {"query": SUBMIT, "variables": {"file": None, **job_arguments(spec)}}
        suffix = "jpg" if spec.image.format == "JPEG" else "png"
        content_type = f"image/{spec.image.format.lower()}"
        response = await self.http.post(
            self.graphql_url,
            data={"operations": json.dumps(payload), "map": '{"0": ["variables.file"]}'},
            files={"0": (f"input.{suffix}", spec.image.data, content_type)},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        return graphql_data(response, "submitImage")

    def watcher(self) -> Watcher:
        """One WebSocket for a client worker's jobs, one after another, as a graphql-ws
        client shares its connection (a socket and a sign-in per job would load the
        server with work real clients do not make it do)."""
        return Watcher(self.graphql_url.replace("http", "ws", 1), self.token)

    async def download(self, url: str) -> bytes:
        response = await self.http.get(url)
        if response.status_code != 200:
            raise JobFailure(f"DOWNLOAD_HTTP_{response.status_code}", url)
        return response.content


def job_arguments(spec: JobSpec) -> dict[str, Any]:
    """submitImage's arguments: the operation alone, or (with a srcset) the operation as
    the variant `main`, the job's first output and so its `result`, and the widths."""
    if not spec.srcset:
        return {"operations": [spec.operation]}
    return {
        "operations": [],
        "variants": [{"name": "main", "operations": [spec.operation]}],
        "srcset": {"widths": list(spec.srcset)},
    }


def subscription_event(payload: dict[str, Any]) -> dict[str, Any]:
    if payload.get("errors"):
        error = payload["errors"][0]
        raise JobFailure(error_code(error), str(error.get("message")))
    return dict(payload["data"]["jobUpdated"])


class Watcher:
    """`jobUpdated` subscriptions over one graphql-transport-ws connection, opened on
    first use and again after it dropped."""

    def __init__(self, ws_url: str, token: str) -> None:
        self.ws_url = ws_url
        self.token = token
        self.ws: ClientConnection | None = None
        self.subscriptions = 0

    async def terminal_event(self, job_id: str) -> tuple[dict[str, Any], float]:
        """The job's terminal state and when it arrived (monotonic clock)."""
        ws = await self._connection()
        self.subscriptions += 1
        op_id = str(self.subscriptions)
        request = {"query": WATCH, "variables": {"id": job_id}}
        try:
            await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": request}))
            return await self._await_terminal(ws, op_id)
        except BaseException:
            await self.close()  # a half-read subscription leaves the socket unusable
            raise

    async def close(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            await ws.close()

    async def _connection(self) -> ClientConnection:
        if self.ws is None:
            protocols = [Subprotocol("graphql-transport-ws")]
            # No separate handshake timeout: the per-job timeout bounds the whole wait.
            ws = await connect(self.ws_url, subprotocols=protocols, open_timeout=None)
            auth = {"Authorization": f"Bearer {self.token}"}
            await ws.send(json.dumps({"type": "connection_init", "payload": auth}))
            ack = json.loads(await ws.recv())
            if ack.get("type") != "connection_ack":
                await ws.close()
                raise JobFailure("WS_INIT", json.dumps(ack)[:200])
            self.ws = ws
        return self.ws

    async def _await_terminal(
        self, ws: ClientConnection, op_id: str
    ) -> tuple[dict[str, Any], float]:
        terminal: tuple[dict[str, Any], float] | None = None
        # Read on to the server's `complete` after the terminal event, so the
        # subscription ends the way the server ends it and the socket is free for the next.
        async for raw in ws:
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif message.get("id") != op_id:
                continue
            elif kind == "next":
                event = subscription_event(message["payload"])
                if event["status"] in TERMINAL and terminal is None:
                    terminal = (event, time.monotonic())
            elif kind == "error":
                errors = message.get("payload") or [{}]
                raise JobFailure(error_code(errors[0]), str(errors[0].get("message")))
            elif kind == "complete":
                break
        if terminal is None:
            raise JobFailure("NO_TERMINAL_EVENT", "subscription ended before a terminal state")
        return terminal
