"""Each decoding limit hit through a real server, on both backend mixes: the code, and
nothing half-done. A refusal at submission leaves no job; a refusal in the worker is a
FAILED job with the code, no result, and no retry.

- IMGFLOW_MAX_PIXELS, which is also Pillow's own bomb threshold in the process;
- IMGFLOW_MAX_TOTAL_PIXELS, frames x width x height, at the source and at every step;
- IMGFLOW_JOB_TIME_LIMIT_SECONDS, with the worker's slot free for the next job at once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from PIL import Image

from tests.api.test_uploads import confirm, post_form, request_ticket
from tests.client import Client, GraphQLErrors
from tests.conftest import Server, new_user, start_server, stop_server
from tests.imaging import animated_gif, quadrants, to_bytes
from tests.unit.imgflow.imaging.test_leash import grown_gif

MAX_PIXELS = 6_000
MAX_TOTAL_PIXELS = 15_000


@pytest.fixture(scope="module")
def small_limits(
    backend: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    env = {
        **backend,
        "IMGFLOW_NAMESPACE": f"limits-{uuid.uuid4().hex[:8]}",
        "IMGFLOW_MAX_PIXELS": str(MAX_PIXELS),
        "IMGFLOW_MAX_TOTAL_PIXELS": str(MAX_TOTAL_PIXELS),
    }
    server = start_server(tmp_path_factory.mktemp("limits"), env)
    yield server
    stop_server(server)
    assert "Traceback" not in server.log(), server.tracebacks()


@pytest.fixture(scope="module")
def short_time_limit(
    backend: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    env = {
        **backend,
        "IMGFLOW_NAMESPACE": f"deadline-{uuid.uuid4().hex[:8]}",
        "IMGFLOW_JOB_TIME_LIMIT_SECONDS": "0.8",
    }
    workdir = tmp_path_factory.mktemp("deadline")
    server = start_server(workdir, env, "--concurrency", "rotate=1")
    yield server
    stop_server(server)
    assert "Traceback" not in server.log(), server.tracebacks()


async def user_of(server: Server) -> Client:
    return await new_user(server.base_url)


async def refused_at_submission(client: Client, data: bytes, ops: list[dict[str, Any]]) -> str:
    """The code of a refused `submitImage`, after checking it left no job behind."""
    with pytest.raises(GraphQLErrors) as caught:
        await client.submit(data, ops)
    assert (await client.execute("{ jobs { edges { cursor } } }"))["jobs"]["edges"] == []
    return caught.value.codes[0]


async def failed_in_worker(client: Client, data: bytes, ops: list[dict[str, Any]]) -> str:
    """The code of a job accepted at submission and failed by the worker, after checking
    it failed once, for good, with no result."""
    job = await client.submit(data, ops)
    assert job["status"] == "QUEUED"
    final = (await asyncio.wait_for(client.watch(job["id"]), timeout=60))[-1]
    assert final["status"] == "FAILED", final
    assert final["result"] is None
    assert final["attempts"] == 1
    return str(final["error"]["code"])


# --- the per-frame limit, Pillow's own threshold -----------------------------------------


async def test_a_source_over_the_pixel_limit_is_refused_on_both_paths(
    small_limits: Server,
) -> None:
    client = await user_of(small_limits)
    data = to_bytes(quadrants(100, 80), "PNG")  # 8,000 px: Pillow alone would only warn
    assert await refused_at_submission(client, data, [{"rotate": {"degrees": 90}}]) == (
        "IMAGE_TOO_LARGE"
    )
    ticket = await request_ticket(client)
    await post_form(client, ticket, data)
    job = await confirm(client, ticket["job"]["id"])
    assert (job["status"], job["error"]["code"], job["result"]) == (
        "FAILED",
        "IMAGE_TOO_LARGE",
        None,
    )
    await client.close()


async def test_a_frame_growing_past_the_limit_fails_the_job(small_limits: Server) -> None:
    client = await user_of(small_limits)
    data = grown_gif()  # the header says 10 x 10; frame 2 is 100 x 100
    code = await failed_in_worker(client, data, [{"rotate": {"degrees": 90}}])
    assert code == "IMAGE_TOO_LARGE"
    await client.close()


# --- the pixel budget across frames -----------------------------------------------------


async def test_frames_over_the_budget_are_refused_at_submission(small_limits: Server) -> None:
    client = await user_of(small_limits)
    data = animated_gif(frames=4, size=(70, 60))  # 4 x 4,200 = 16,800 px
    ops = [{"convert": {"format": "WEBP"}}]
    assert await refused_at_submission(client, data, ops) == "IMAGE_TOO_LARGE"
    await client.close()


async def test_an_intermediate_step_over_the_budget_is_refused(small_limits: Server) -> None:
    client = await user_of(small_limits)
    data = animated_gif(frames=4, size=(40, 30))  # 4,800 px: fine as it is
    # Step 1 would hold 4 x 70 x 60 = 16,800 px, though step 2 shrinks it again.
    ops = [{"forceResize": {"width": 70, "height": 60}}, {"resize": {"width": 10}}]
    assert await refused_at_submission(client, data, ops) == "IMAGE_TOO_LARGE"
    await client.close()


async def test_frames_adding_up_past_the_budget_fail_the_job(small_limits: Server) -> None:
    client = await user_of(small_limits)
    # Headers: 5 x 10 x 10. Decoded: 100 + 4 x 4,900 px, over the budget at frame 5.
    data = grown_gif(frames=5, big=70)
    code = await failed_in_worker(client, data, [{"convert": {"format": "GIF"}}])
    assert code == "IMAGE_TOO_LARGE"
    await client.close()


# --- the per-job time limit ------------------------------------------------------------


async def test_a_job_over_its_time_limit_fails_and_frees_its_slot(
    short_time_limit: Server,
) -> None:
    client = await user_of(short_time_limit)
    # Decoding takes about 0.25 s, then one rotation to a 46 Mpx canvas, about 2 s of
    # work nothing can interrupt; the limit is 0.8 s and the rotate queue has one slot.
    slow = to_bytes(Image.new("RGB", (5_000, 5_000), (200, 30, 30)), "PNG")
    slow_job = await client.submit(slow, [{"rotate": {"degrees": 30}}])
    quick_job = await client.submit(to_bytes(quadrants(), "PNG"), [{"rotate": {"degrees": 90}}])
    slow_final, quick_final = await asyncio.gather(
        *(asyncio.wait_for(client.watch(job["id"]), timeout=60) for job in (slow_job, quick_job))
    )
    failed, done = slow_final[-1], quick_final[-1]
    ran, gap = (
        seconds(failed["startedAt"], failed["finishedAt"]),
        seconds(failed["finishedAt"], done["startedAt"]),
    )
    print(f"time limit: failed after {ran:.2f} s; the next job started {gap:.2f} s later")
    assert (failed["status"], failed["error"]["code"]) == ("FAILED", "TIME_LIMIT_EXCEEDED")
    assert failed["result"] is None
    assert ran < 1.6  # at the limit, not when the step ended
    assert done["status"] == "SUCCEEDED"
    assert gap < 1.0  # the slot came free at once
    await asyncio.sleep(1)
    again = await client.job(slow_job["id"])
    assert again is not None
    assert (again["status"], again["attempts"]) == ("FAILED", 1)  # never retried
    await client.close()


def seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
