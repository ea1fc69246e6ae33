"""Several processes cooperating through the real services: two `imgflow api` and two
`imgflow worker` processes. Jobs go in through API 1, are watched through API 2, and
both workers take a share."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client import Client
from tests.conftest import Server, migrate, new_user, start_imgflow, stop_server
from tests.imaging import quadrants
from tests.imaging import to_bytes as encode

JOBS = 16
OPERATIONS = [
    [{"rotate": {"degrees": 90}}],
    [{"resize": {"width": 40}}],
    [{"forceResize": {"width": 30, "height": 30}}],
    [{"convert": {"format": "WEBP"}}],
]


@pytest.fixture
def cluster(backend: dict[str, str], tmp_path: Path) -> Iterator[dict[str, list[Server]]]:
    env = {
        **backend,
        "IMGFLOW_NAMESPACE": f"scale-{uuid.uuid4().hex[:8]}",
        "IMGFLOW_LOG_JSON": "true",
    }
    migrate(env, tmp_path)
    started: dict[str, list[Server]] = {"api": [], "worker": []}
    try:
        for index in range(2):
            started["api"].append(start_imgflow(tmp_path / f"api{index}", env, "api"))
            worker_args = ("--concurrency", "convert=1,rotate=1,resize=1,force_resize=1")
            worker = start_imgflow(tmp_path / f"worker{index}", env, "worker", *worker_args)
            started["worker"].append(worker)
        yield started
    finally:
        for server in started["api"] + started["worker"]:
            stop_server(server)


@pytest.mark.parametrize("backend", ["services"], indirect=True)
async def test_two_apis_and_two_workers_share_the_work(cluster: dict[str, list[Server]]) -> None:
    api1, api2 = cluster["api"]
    submitter = await new_user(api1.base_url)
    watcher = Client(api2.base_url, token=submitter.token)
    source = encode(quadrants(64, 48), "PNG")
    submitted = [await submitter.submit(source, OPERATIONS[i % 4]) for i in range(JOBS)]

    finals = await asyncio.wait_for(
        asyncio.gather(*(watcher.watch(job["id"]) for job in submitted)), timeout=120
    )
    assert [events[-1]["status"] for events in finals] == ["SUCCEEDED"] * JOBS

    done_by = Counter(
        index
        for index, worker in enumerate(cluster["worker"])
        for entry in json_lines(worker.log())
        if entry.get("message") == "job succeeded"
    )
    print(f"jobs done per worker: {dict(done_by)}")
    assert sum(done_by.values()) == JOBS
    assert done_by[0] > 0
    assert done_by[1] > 0
    await submitter.close()
    await watcher.close()


def json_lines(text: str) -> Iterator[dict[str, object]]:
    for line in text.splitlines():
        if line.startswith("{"):
            yield json.loads(line)
