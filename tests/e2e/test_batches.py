"""Batches end to end on both backend mixes: one job per file in order, all or none, and
counted against the submission limits like that many submissions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.client import Client
from tests.conftest import Server, new_user, start_server, stop_server
from tests.e2e.test_presets import CARDS, CREATE, codes, finished, job_count
from tests.imaging import BLUE, RED, colour_at, near, open_bytes, quadrants
from tests.imaging import to_bytes as encode

SUBMIT_MANY = """
mutation($files: [Upload!]!, $operations: [OperationInput!], $srcset: SrcsetInput,
         $analyze: Boolean!, $preset: String) {
  submitImages(files: $files, operations: $operations, srcset: $srcset, analyze: $analyze,
               preset: $preset) {
    id status source { width height }
  }
}"""
SUBMIT_ONE = """
mutation($file: Upload!, $operations: [OperationInput!]) {
  submitImage(file: $file, operations: $operations) { id }
}"""


def picture(width: int, height: int) -> bytes:
    return encode(quadrants(width, height), "PNG")


async def submit_many(client: Client, files: list[bytes], **arguments: Any) -> dict[str, Any]:
    variables = {"files": [None] * len(files), "analyze": False, **arguments}
    paths = {f"files.{i}": data for i, data in enumerate(files)}
    return await client.multipart(SUBMIT_MANY, variables, paths)


async def test_one_job_per_file_in_order(client: Client) -> None:
    sizes = [(80, 60), (64, 48), (40, 30)]
    body = await submit_many(
        client, [picture(*s) for s in sizes], srcset={"widths": [32, 64]}, analyze=True
    )
    assert not body.get("errors"), body
    made = body["data"]["submitImages"]
    assert [(j["source"]["width"], j["source"]["height"]) for j in made] == sizes
    assert {j["status"] for j in made} == {"QUEUED"}
    for submitted, (width, _) in zip(made, sizes, strict=True):
        job = await finished(client, submitted["id"])
        assert job["status"] == "SUCCEEDED", job["error"]
        assert [o["name"] for o in job["outputs"]] == [f"w{w}" for w in (32, 64) if w <= width]
        assert job["analysis"]["frames"] == 1
        url = job["outputs"][0]["image"]["url"]
        narrow = open_bytes((await client.http.get(url)).content)
        assert narrow.width == 32
        assert near(colour_at(narrow, 2, 2), RED)
        assert near(colour_at(narrow, 2, narrow.height - 3), BLUE)


async def test_one_bad_file_refuses_the_batch(client: Client) -> None:
    corrupt = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
    body = await submit_many(
        client, [picture(40, 30), corrupt, picture(40, 30)], operations=[{"grayscale": True}]
    )
    assert codes(body) == ["CORRUPT_IMAGE"]
    assert body["errors"][0]["message"].startswith("file 2:")
    assert await job_count(client) == 0


async def test_an_empty_file_refuses_the_batch(client: Client) -> None:
    body = await submit_many(client, [picture(40, 30), b""], operations=[{"grayscale": True}])
    assert codes(body) == ["EMPTY_FILE"]
    assert await job_count(client) == 0


async def test_a_batch_may_name_a_preset(client: Client) -> None:
    await client.execute(CREATE, CARDS)
    body = await submit_many(client, [picture(80, 60), picture(80, 60)], preset="cards")
    assert not body.get("errors"), body
    for submitted in body["data"]["submitImages"]:
        job = await finished(client, submitted["id"])
        assert [o["name"] for o in job["outputs"]] == ["thumb", "w20", "w60"]


# --- Limits: files per batch, and submissions per minute -------------------------------


@pytest.fixture(scope="module")
def limited(backend: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {**backend, "IMGFLOW_MAX_BATCH_FILES": "3", "IMGFLOW_SUBMISSIONS_PER_MINUTE": "5"}
    server = start_server(tmp_path_factory.mktemp("batches"), env)
    yield server
    stop_server(server)
    assert "Traceback" not in server.log(), server.tracebacks()


@pytest.fixture
async def user(limited: Server) -> AsyncIterator[Client]:
    client = await new_user(limited.base_url)
    yield client
    await client.close()


async def test_too_many_files(user: Client) -> None:
    body = await submit_many(user, [picture(40, 30)] * 4, operations=[{"grayscale": True}])
    assert codes(body) == ["TOO_MANY_FILES"]
    assert await job_count(user) == 0


async def test_a_batch_over_the_rate_limit_makes_nothing(user: Client) -> None:
    grey = [{"grayscale": True}]
    assert not (await submit_many(user, [picture(40, 30)] * 3, operations=grey)).get("errors")
    refused = await submit_many(user, [picture(40, 30)] * 3, operations=grey)  # 6 > 5
    assert codes(refused) == ["RATE_LIMITED"]
    assert await job_count(user) == 3
    # The refused batch took none of the minute's allowance: a fourth and fifth still fit.
    for _ in range(2):
        one = await user.multipart(
            SUBMIT_ONE, {"file": None, "operations": grey}, {"file": picture(40, 30)}
        )
        assert not one.get("errors"), one
    assert await job_count(user) == 5
