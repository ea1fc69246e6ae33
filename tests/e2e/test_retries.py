"""Transient failures, end to end: a real `imgflow serve` whose first source reads fail
(IMGFLOW_FAULT_INJECTION, a real ConnectionError inside the worker, not a mock) retries
through the broker's delay path, then succeeds, or runs out of attempts, fails the job
with PROCESSING_FAILED and dead-letters its message. On both backend mixes."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from imgflow.backends.broker.rabbitmq import Topology
from imgflow.domain import QueueName
from tests.conftest import Server, new_user, start_server, stop_server
from tests.imaging import quadrants
from tests.imaging import to_bytes as encode

MAX_ATTEMPTS = 3
RETRY_ENV = {
    "IMGFLOW_RETRY_BASE_SECONDS": "0.1",
    "IMGFLOW_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    "IMGFLOW_LOG_JSON": "true",  # the log is read back: successes and dead letters per job
}
OPERATIONS = [{"rotate": {"degrees": 90}}]
WATCH_TIMEOUT = 60.0


@pytest.fixture
def faulty_server(
    backend: dict[str, str], tmp_path: Path
) -> Iterator[Callable[[str], tuple[Server, dict[str, str]]]]:
    """Starts `imgflow serve` with the given fault setting in a namespace of its own."""
    started: list[Server] = []

    def start(faults: str) -> tuple[Server, dict[str, str]]:
        env = {
            **backend,
            **RETRY_ENV,
            "IMGFLOW_NAMESPACE": f"retry-{uuid.uuid4().hex[:8]}",
            "IMGFLOW_FAULT_INJECTION": faults,
        }
        server = start_server(tmp_path / f"serve{len(started)}", env)
        started.append(server)
        return server, env

    yield start
    for server in started:
        stop_server(server)
        assert "Traceback" not in server.log(), server.tracebacks()


async def test_a_transient_fault_is_retried_until_the_job_succeeds(
    faulty_server: Callable[[str], tuple[Server, dict[str, str]]],
) -> None:
    faults = 2
    server, _ = faulty_server(f"storage_get:{faults}")
    client = await new_user(server.base_url)
    job = await client.submit(encode(quadrants(), "PNG"), OPERATIONS)
    events = await asyncio.wait_for(client.watch(job["id"]), WATCH_TIMEOUT)
    await client.close()

    final = events[-1]
    report("transient fault x2", [job["id"]], {job["id"]: final}, server)
    assert final["status"] == "SUCCEEDED", final
    assert final["attempts"] == faults + 1
    assert dead_lettered(server) == Counter()


async def test_a_fault_past_the_limit_fails_the_job_and_dead_letters_it(
    faulty_server: Callable[[str], tuple[Server, dict[str, str]]],
) -> None:
    server, env = faulty_server("storage_get:100")
    client = await new_user(server.base_url)
    source = encode(quadrants(), "PNG")
    submitted = [await client.submit(source, OPERATIONS) for _ in range(2)]
    watched = await asyncio.wait_for(
        asyncio.gather(*(client.watch(job["id"]) for job in submitted)), WATCH_TIMEOUT
    )
    await client.close()

    finals = {events[-1]["id"]: events[-1] for events in watched}
    job_ids = [job["id"] for job in submitted]
    report("fault past the limit", job_ids, finals, server)
    for final in finals.values():
        assert final["status"] == "FAILED", final
        assert final["error"]["code"] == "PROCESSING_FAILED"
        assert "ConnectionError" in final["error"]["message"]
        assert final["attempts"] == MAX_ATTEMPTS
    assert await eventually_dead_lettered(server, job_ids) == Counter(job_ids)
    if env.get("IMGFLOW_BROKER_URL", "").startswith("amqp"):
        assert sorted(await dead_queue_job_ids(env, len(job_ids))) == sorted(job_ids)


def report(label: str, job_ids: list[str], finals: dict[str, Any], server: Server) -> None:
    """The one-line summary every fault test prints."""
    terminal = {"SUCCEEDED", "FAILED", "CANCELLED"}
    done = [finals[i] for i in job_ids if finals.get(i, {}).get("status") in terminal]
    succeeded = sum(job["status"] == "SUCCEEDED" for job in done)
    failed = Counter(job["error"]["code"] for job in done if job["status"] == "FAILED")
    duplicated = sum(count > 1 for count in log_counts(server, "job succeeded").values())
    print(
        f"[{label}] submitted={len(job_ids)} succeeded={succeeded} failed={dict(failed)}"
        f" lost={len(job_ids) - len(done)} duplicated={duplicated}"
    )
    assert len(done) == len(job_ids), "lost jobs"
    assert duplicated == 0, "a job succeeded twice"


def log_counts(server: Server, message: str) -> Counter[str]:
    """How many times each job id was logged with `message` (JSON log lines)."""
    counts: Counter[str] = Counter()
    for line in server.log().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("message", "").startswith(message) and "job_id" in entry:
                counts[entry["job_id"]] += 1
    return counts


def dead_lettered(server: Server) -> Counter[str]:
    return log_counts(server, "message dead-lettered")


async def eventually_dead_lettered(server: Server, job_ids: list[str]) -> Counter[str]:
    """The broker dead-letters just after the row turns FAILED: give it a moment."""
    deadline = time.monotonic() + 10
    while sum(dead_lettered(server).values()) < len(job_ids) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return dead_lettered(server)


async def dead_queue_job_ids(env: dict[str, str], expected: int) -> list[str]:
    """The job ids waiting in `<namespace>.dead`, read (and removed) through aio-pika."""
    names = Topology(env["IMGFLOW_NAMESPACE"])
    connection = await aio_pika.connect(env["IMGFLOW_BROKER_URL"])
    try:
        channel = await connection.channel()
        dead = await channel.declare_queue(names.dead_queue, passive=True)
        assert dead.declaration_result.message_count == expected
        found = []
        while (message := await dead.get(no_ack=True, fail=False)) is not None:
            assert message.routing_key == names.queue(QueueName.ROTATE)  # re-drivable
            found.append(json.loads(message.body)["job_id"])
        return found
    finally:
        await connection.close()
