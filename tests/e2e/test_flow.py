"""The whole path from outside: a real `imgflow serve` process, a multipart upload,
a real WebSocket subscription, the result downloaded and its pixels checked."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from tests.client import Client
from tests.conftest import new_user, start_server, stop_server
from tests.imaging import (
    BLUE,
    GREEN,
    RED,
    YELLOW,
    animated_gif,
    colour_at,
    durations_of,
    frames_of,
    near,
    open_bytes,
    oriented_jpeg,
    quadrants,
    similarity,
)
from tests.imaging import to_bytes as encode


async def test_submit_watch_download(client: Client) -> None:
    source = encode(quadrants(64, 48), "PNG")
    job = await client.submit(
        source,
        [{"rotate": {"degrees": 90}}, {"convert": {"format": "JPEG", "quality": 90}}],
    )
    assert job["status"] == "QUEUED"
    assert job["queue"] == "CONVERT"
    assert job["source"] == {
        "format": "PNG",
        "width": 64,
        "height": 48,
        "bytes": len(source),
        "frames": 1,
    }

    events = await client.watch(job["id"])
    statuses = [event["status"] for event in events]
    assert statuses[-1] == "SUCCEEDED", events
    assert statuses == sorted(set(statuses), key=statuses.index), "no state repeats"
    assert set(statuses) <= {"QUEUED", "PROCESSING", "SUCCEEDED"}

    result = events[-1]["result"]
    assert (result["format"], result["width"], result["height"]) == ("JPEG", 48, 64)
    assert result["url"].startswith("http://127.0.0.1:")
    response = await client.http.get(result["url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    image = open_bytes(response.content)
    assert image.format == "JPEG"
    assert image.size == (48, 64)
    # Counter-clockwise 90: top-right (green) goes to top-left, top-left (red) to bottom-left.
    assert near(colour_at(image, 5, 5), GREEN, tolerance=24)
    assert near(colour_at(image, 5, 58), RED, tolerance=24)
    assert near(colour_at(image, 42, 5), YELLOW, tolerance=24)
    assert near(colour_at(image, 42, 58), BLUE, tolerance=24)


async def test_subscription_of_finished_job_yields_once_and_completes(client: Client) -> None:
    job = await client.submit(encode(quadrants(), "PNG"), [{"flip": {"direction": "HORIZONTAL"}}])
    await client.watch(job["id"])
    events = await client.watch(job["id"])
    assert [e["status"] for e in events] == ["SUCCEEDED"]


def test_serve_with_no_settings_keeps_data_in_working_directory(tmp_path: Path) -> None:
    server = start_server(tmp_path, {})
    try:
        assert (tmp_path / "imgflow-data" / "imgflow.db").exists()
        assert (tmp_path / "imgflow-data" / "jwt-secret").exists()
        page = httpx.get(f"{server.base_url}/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert "graphiql" in page.text.lower()
    finally:
        stop_server(server)


async def test_queued_jobs_survive_a_restart(tmp_path: Path, backend: dict[str, str]) -> None:
    """A job accepted by a process with no workers is finished by the next process:
    in-process queues die with the process, so housekeeping re-publishes from the
    database; RabbitMQ keeps the message."""
    # A namespace of its own: the session's server shares these services and would
    # otherwise take the job.
    backend = {**backend, "IMGFLOW_NAMESPACE": f"restart-{uuid.uuid4().hex[:8]}"}
    idle = start_server(
        tmp_path, backend, "--concurrency", "convert=0,rotate=0,resize=0,force_resize=0"
    )
    try:
        client = await new_user(idle.base_url)
        job = await client.submit(encode(quadrants(), "PNG"), [{"rotate": {"degrees": 180}}])
        await asyncio.sleep(0.5)
        assert (await client.job(job["id"]) or {})["status"] == "QUEUED"
    finally:
        stop_server(idle)
    busy = start_server(tmp_path, backend)
    try:
        client.base_url = busy.base_url
        events = await asyncio.wait_for(client.watch(job["id"]), timeout=30)
        assert events[-1]["status"] == "SUCCEEDED"
        await client.close()
    finally:
        stop_server(busy)


@pytest.mark.parametrize("orientation", range(1, 9))
async def test_every_exif_orientation_comes_out_upright(client: Client, orientation: int) -> None:
    upright = quadrants(64, 48)
    job = await client.submit(oriented_jpeg(upright, orientation), [{"convert": {"format": "PNG"}}])
    final = (await client.watch(job["id"]))[-1]
    assert final["status"] == "SUCCEEDED", final
    image = open_bytes((await client.http.get(final["result"]["url"])).content)
    assert image.size == (64, 48)
    assert similarity(image, upright) > 0.95


async def test_resized_animated_gif_stays_animated(client: Client) -> None:
    job = await client.submit(animated_gif(frames=6, size=(80, 60)), [{"resize": {"width": 40}}])
    final = (await client.watch(job["id"]))[-1]
    assert final["status"] == "SUCCEEDED", final
    assert final["result"]["frames"] == 6
    data = (await client.http.get(final["result"]["url"])).content
    assert len(frames_of(data)) == 6
    assert open_bytes(data).size == (40, 30)
    assert durations_of(data) == [80] * 6


async def test_jobs_updated_streams_only_my_jobs(client: Client, other_client: Client) -> None:
    query = "subscription { jobsUpdated { id status } }"
    async with client.subscription(query) as events:
        # The protocol has no "subscribed" acknowledgement: give the server a moment
        # to register the subscription before the jobs start.
        await asyncio.sleep(0.5)
        theirs = await other_client.submit(
            encode(quadrants(), "PNG"), [{"rotate": {"degrees": 90}}]
        )
        mine = await client.submit(encode(quadrants(), "PNG"), [{"rotate": {"degrees": 90}}])
        seen: list[tuple[str, str]] = []
        async with asyncio.timeout(30):
            async for event in events:
                update = event["jobsUpdated"]
                seen.append((update["id"], update["status"]))
                if update == {"id": mine["id"], "status": "SUCCEEDED"}:
                    break
    assert {job_id for job_id, _ in seen} == {mine["id"]}
    assert [status for _, status in seen] == ["QUEUED", "PROCESSING", "SUCCEEDED"]
    await other_client.watch(theirs["id"])
