"""A small real GraphQL client for tests: HTTP (JSON and multipart) and
graphql-transport-ws over a real WebSocket."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

SUBMIT = """
mutation Submit($file: Upload!, $operations: [OperationInput!]!, $key: String) {
  submitImage(file: $file, operations: $operations, idempotencyKey: $key) {
    id status queue attempts
    source { format width height bytes frames }
  }
}
"""

JOB_FIELDS = """
id status queue attempts createdAt startedAt finishedAt operations
source { url format width height bytes frames }
result { url format width height bytes frames }
error { code message }
"""


SUBMIT_OUTPUTS = """
mutation Submit(
  $file: Upload!, $operations: [OperationInput!], $variants: [VariantInput!],
  $srcset: SrcsetInput, $analyze: Boolean! = false
) {
  submitImage(
    file: $file, operations: $operations, variants: $variants, srcset: $srcset,
    analyze: $analyze
  ) {
    id status queue skippedWidths progress { done total }
    outputs { name operations srcsetWidth image { format } }
  }
}
"""

OUTPUT_FIELDS = """
id status queue attempts operations skippedWidths srcset progress { done total }
result { url format width height bytes frames }
outputs { name operations srcsetWidth image { url format width height bytes frames } }
error { code message }
"""


class GraphQLErrors(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(json.dumps(errors))
        self.errors = errors

    @property
    def codes(self) -> list[str]:
        return [str((e.get("extensions") or {}).get("code")) for e in self.errors]


@dataclass
class Client:
    base_url: str
    token: str | None = None
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=60))

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def raw(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.http.post(
            f"{self.base_url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers=self.headers,
        )
        return dict(response.json())

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self.raw(query, variables)
        if body.get("errors"):
            raise GraphQLErrors(body["errors"])
        return dict(body["data"])

    async def upload_raw(
        self,
        data: bytes,
        operations: list[dict[str, Any]],
        filename: str = "image.bin",
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """The GraphQL multipart request spec, as curl or apollo-upload-client send it."""
        variables = {"file": None, "operations": operations, "key": idempotency_key}
        payload = {"query": SUBMIT, "variables": variables}
        files = {"0": (filename, data, "application/octet-stream")}
        form = {"operations": json.dumps(payload), "map": json.dumps({"0": ["variables.file"]})}
        response = await self.http.post(
            f"{self.base_url}/graphql", data=form, files=files, headers=self.headers
        )
        return dict(response.json())

    async def submit(
        self, data: bytes, operations: list[dict[str, Any]], idempotency_key: str | None = None
    ) -> dict[str, Any]:
        body = await self.upload_raw(data, operations, idempotency_key=idempotency_key)
        if body.get("errors"):
            raise GraphQLErrors(body["errors"])
        return dict(body["data"]["submitImage"])

    async def submit_outputs(self, data: bytes, **arguments: Any) -> dict[str, Any]:
        """submitImage with `operations`, `variants` and `srcset` as given (multipart)."""
        payload = {"query": SUBMIT_OUTPUTS, "variables": {"file": None, **arguments}}
        files = {"0": ("image.bin", data, "application/octet-stream")}
        form = {"operations": json.dumps(payload), "map": json.dumps({"0": ["variables.file"]})}
        response = await self.http.post(
            f"{self.base_url}/graphql", data=form, files=files, headers=self.headers
        )
        body = response.json()
        if body.get("errors"):
            raise GraphQLErrors(body["errors"])
        return dict(body["data"]["submitImage"])

    async def multipart(
        self, query: str, variables: dict[str, Any], files: dict[str, bytes]
    ) -> dict[str, Any]:
        """Any mutation with files, each at its variables path (`file`, `files.0`): the
        multipart request spec's body, as curl sends it. The whole answer, errors too."""
        parts = {
            str(i): (f"image{i}.bin", data, "application/octet-stream")
            for i, data in enumerate(files.values())
        }
        mapping = {str(i): [f"variables.{path}"] for i, path in enumerate(files)}
        payload = {"query": query, "variables": variables}
        form = {"operations": json.dumps(payload), "map": json.dumps(mapping)}
        response = await self.http.post(
            f"{self.base_url}/graphql", data=form, files=parts, headers=self.headers
        )
        return dict(response.json())

    async def job(self, job_id: str) -> dict[str, Any] | None:
        data = await self.execute(
            f"query($id: ID!) {{ job(id: $id) {{ {JOB_FIELDS} }} }}", {"id": job_id}
        )
        return data["job"]

    @asynccontextmanager
    async def subscription(
        self, query: str, variables: dict[str, Any] | None = None
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        ws_url = self.base_url.replace("http", "ws", 1) + "/graphql"
        async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
            init: dict[str, Any] = {"type": "connection_init"}
            if self.token:
                init["payload"] = {"Authorization": f"Bearer {self.token}"}
            await ws.send(json.dumps(init))
            ack = json.loads(await ws.recv())
            assert ack["type"] == "connection_ack", ack
            op_id = str(uuid.uuid4())
            await ws.send(
                json.dumps(
                    {
                        "id": op_id,
                        "type": "subscribe",
                        "payload": {"query": query, "variables": variables or {}},
                    }
                )
            )
            yield _messages(ws, op_id)

    async def watch(self, job_id: str) -> list[dict[str, Any]]:
        """Every `jobUpdated` event until the server completes the subscription."""
        query = f"subscription($id: ID!) {{ jobUpdated(id: $id) {{ {JOB_FIELDS} }} }}"
        async with self.subscription(query, {"id": job_id}) as events:
            return [event["jobUpdated"] async for event in events]

    async def close(self) -> None:
        await self.http.aclose()


async def _messages(ws: Any, op_id: str) -> AsyncIterator[dict[str, Any]]:
    while True:
        message = json.loads(await ws.recv())
        if message.get("type") == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            continue
        if message.get("id") != op_id:
            continue
        if message["type"] == "next":
            payload = message["payload"]
            if payload.get("errors"):
                raise GraphQLErrors(payload["errors"])
            yield payload["data"]
        elif message["type"] == "error":
            raise GraphQLErrors(message["payload"])
        elif message["type"] == "complete":
            return
