"""`--concurrency auto`: a burst on one queue takes the slots the others do not need, yet a
job arriving on another queue in the middle of it is not starved; on both backend mixes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, new_user, start_server, stop_server
from tests.imaging import BLUE, GREEN, RED, YELLOW, colour_at, near, open_bytes, quadrants
from tests.imaging import to_bytes as encode

TOTAL_SLOTS = 3
BURST = 12
# A blur makes each job last long enough (~0.1-0.3 s) for the slots to overlap.
CONVERT = [{"blur": {"radius": 6}}, {"convert": {"format": "WEBP", "quality": 80}}]
ROTATE = [{"rotate": {"degrees": 90}}]


@pytest.fixture
def auto_server(backend: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    env = {
        **backend,
        "IMGFLOW_NAMESPACE": f"auto-{uuid.uuid4().hex[:8]}",  # its own queues
        "IMGFLOW_TOTAL_SLOTS": str(TOTAL_SLOTS),
        "IMGFLOW_QUEUE_SLOTS": "convert=1:3,rotate=0:1",
    }
    server = start_server(tmp_path, env, "--concurrency", "auto")
    yield server
    stop_server(server)
    assert "Traceback" not in server.log(), server.tracebacks()


def most_at_once(jobs: list[dict[str, Any]]) -> int:
    """The most jobs PROCESSING at the same time, from their start and finish times."""
    edges = []
    for job in jobs:
        edges.append((datetime.fromisoformat(job["startedAt"]), 1))
        edges.append((datetime.fromisoformat(job["finishedAt"]), -1))
    running = most = 0
    for _, step in sorted(edges, key=lambda edge: (edge[0], edge[1])):
        running += step
        most = max(most, running)
    return most


async def test_a_convert_burst_uses_several_slots_and_a_rotate_job_still_gets_one(
    auto_server: Server,
) -> None:
    client = await new_user(auto_server.base_url)
    try:
        photo = encode(quadrants(1600, 1200), "JPEG", quality=90)
        # Submitted all at once, so that the jobs wait (one by one they would not).
        burst = await asyncio.gather(*(client.submit(photo, CONVERT) for _ in range(BURST)))
        rotate = await client.submit(encode(quadrants(64, 48), "PNG"), ROTATE)
        watching = asyncio.gather(*(client.watch(job["id"]) for job in [*burst, rotate]))
        most_slots = 0  # `imgflow_worker_slots` shows the allocation as it moves
        async with asyncio.timeout(120):
            while not watching.done():
                metrics = (await client.http.get(f"{auto_server.base_url}/metrics")).text
                most_slots = max(most_slots, convert_slots(metrics))
                await asyncio.sleep(0.1)
        jobs = [events[-1] for events in await watching]
        assert [job["status"] for job in jobs] == ["SUCCEEDED"] * (BURST + 1), jobs
        converts, rotated = jobs[:BURST], jobs[BURST]

        # More than one CONVERT slot (fixed defaults would give 2, 1-per-queue 1), never
        # more than the process's total; the gauge showed the move (sampled, so it may
        # miss the moment convert held all the slots on a quiet machine).
        assert 2 <= most_at_once(converts) <= TOTAL_SLOTS
        assert 2 <= most_slots <= TOTAL_SLOTS
        # The rotate job, submitted after all twelve, did not wait for the burst to end.
        last_convert = max(datetime.fromisoformat(job["finishedAt"]) for job in converts)
        assert datetime.fromisoformat(rotated["finishedAt"]) < last_convert

        image = open_bytes((await client.http.get(rotated["result"]["url"])).content)
        assert image.size == (48, 64)
        assert near(colour_at(image, 5, 5), GREEN)
        assert near(colour_at(image, 5, 58), RED)
        assert near(colour_at(image, 42, 5), YELLOW)
        assert near(colour_at(image, 42, 58), BLUE)
        webp = open_bytes((await client.http.get(converts[0]["result"]["url"])).content)
        assert (webp.format, webp.size) == ("WEBP", (1600, 1200))
        assert near(colour_at(webp, 200, 200), RED, tolerance=24)
        assert near(colour_at(webp, 1400, 1000), YELLOW, tolerance=24)
    finally:
        await client.close()


def convert_slots(metrics: str) -> int:
    for line in metrics.splitlines():
        if line.startswith('imgflow_worker_slots{queue="CONVERT"}'):
            return int(float(line.split()[-1]))
    return 0
