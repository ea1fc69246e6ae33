"""Corpus conformance through the public API: every `process` file succeeds for each of
the four original operations, every `reject` file fails with a clear code (refused at
submission, or FAILED by the worker), and the service stays healthy throughout."""

from __future__ import annotations

import asyncio

import pytest

from tests.client import Client
from tests.conftest import Server
from tests.corpus import CorpusFile, corpus_params

OPERATIONS = {
    "rotate": {"rotate": {"degrees": 90}},
    "resize": {"resize": {"width": 320, "height": 320}},
    "force_resize": {"forceResize": {"width": 200, "height": 150}},
    "convert": {"convert": {"format": "PNG"}},
}
CLEAR_CODES = {
    "UNSUPPORTED_FORMAT",
    "CORRUPT_IMAGE",
    "IMAGE_TOO_LARGE",
    "TOO_MANY_FRAMES",
    "EMPTY_FILE",
}


@pytest.mark.parametrize("item", corpus_params())
async def test_corpus_file(server: Server, client: Client, item: CorpusFile) -> None:
    data = item.path.read_bytes()
    outcomes = await asyncio.gather(*(outcome(client, data, op) for op in OPERATIONS.values()))
    if item.should_process:
        assert outcomes == [("SUCCEEDED", None)] * len(OPERATIONS), outcomes
    elif "rejecting is also acceptable" in item.expected:
        assert all(status == "SUCCEEDED" or code in CLEAR_CODES for status, code in outcomes), (
            outcomes
        )
    else:
        assert all(status == "REFUSED" or status == "FAILED" for status, _ in outcomes), outcomes
        assert all(code in CLEAR_CODES for _, code in outcomes), outcomes
    assert server.alive()
    assert (await client.http.get(f"{server.base_url}/healthz")).status_code == 200


async def outcome(
    client: Client, data: bytes, operation: dict[str, object]
) -> tuple[str, str | None]:
    body = await client.upload_raw(data, [operation])
    if body.get("errors"):
        return "REFUSED", body["errors"][0]["extensions"]["code"]
    job_id = body["data"]["submitImage"]["id"]
    final = (await asyncio.wait_for(client.watch(job_id), timeout=120))[-1]
    if final["status"] == "SUCCEEDED":
        result = await client.http.get(final["result"]["url"])
        assert result.status_code == 200
        assert len(result.content) == final["result"]["bytes"]
    return final["status"], (final["error"] or {}).get("code")
