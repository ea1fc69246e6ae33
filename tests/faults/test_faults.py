"""Nothing lost, whatever breaks: real processes, real services, real faults.

Each test runs a load of jobs through `imgflow api` into two `imgflow worker`
processes (plus `imgflow cron`), breaks something in the middle, and then checks
that every accepted job is terminal with the right status (SUCCEEDED: none of these
faults is the image's fault), with exactly one job per submission and one result
object per job. Each prints a summary line (shown at the end of the run).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.client import Client
from tests.conftest import Server, new_user, start_imgflow, stop_server
from tests.faults.cluster import Cluster, FaultServices, cluster, fault_services, rabbitmqctl
from tests.faults.load import SUMMARIES, Verdict, settle, submit_all

JOBS = 40
LOAD_TIMEOUT = 120.0
Fault = Callable[[Client], Awaitable[None]]


@pytest.fixture
def services() -> Iterator[FaultServices]:
    with fault_services() as shared:
        yield shared


@pytest.fixture
def running(
    services: FaultServices, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Cluster]:
    """The cluster; a test may parametrise it indirectly with extra IMGFLOW_* settings."""
    overrides: dict[str, str] = getattr(request, "param", {})
    with cluster(services, tmp_path, **overrides) as started:
        yield started


async def run_load(running: Cluster, name: str, fault: Fault) -> Verdict:
    """Submit JOBS jobs, run `fault` meanwhile, and judge the outcome (asserts it)."""
    assert running.api is not None
    client = await new_user(running.api.base_url)
    deadline = time.monotonic() + LOAD_TIMEOUT
    try:
        submitting = asyncio.create_task(submit_all(client, JOBS, deadline))
        await fault(client)
        ids, retries = await submitting
        jobs = await settle(client, len(ids), deadline)
    finally:
        await client.close()
    verdict = Verdict(name, len(ids), jobs, running.result_objects(), retries)
    SUMMARIES.append(verdict.summary())
    print(verdict.summary())
    context = f"{verdict.summary()}\n{running.logs()[-20000:]}"
    assert verdict.lost == 0, context
    assert verdict.duplicated == 0, context
    assert verdict.by_status["SUCCEEDED"] == JOBS, context
    assert len(verdict.results) == JOBS, context
    await queues_drain(running)
    return verdict


async def queues_drain(running: Cluster, within: float = 20.0) -> None:
    """Nothing left behind in the broker: no message ready or unacked in any queue
    (deferred duplicates pass through a delay queue and are acked as no-ops)."""
    deadline = time.monotonic() + within
    while True:
        counts = await asyncio.to_thread(running.queue_counts)
        busy = {name: c for name, c in counts.items() if c != (0, 0)}
        if not busy:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"messages left in the broker: {busy}")
        await asyncio.sleep(1)


async def wait_for_held_job(worker: Server, within: float = 60.0) -> set[str]:
    """Job ids this worker has started and not finished, once there are some."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        started, done = set(), set()
        for entry in json_lines(worker.log()):
            job_id = str(entry.get("job_id"))
            if entry.get("message") == "job started":
                started.add(job_id)
            elif entry.get("message") in ("job succeeded", "job failed"):
                done.add(job_id)
        if started - done:
            return started - done
        await asyncio.sleep(0.02)
    raise AssertionError(f"the worker held no job within {within}s:\n{worker.log()}")


def json_lines(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                yield json.loads(line)
            except ValueError:
                continue  # a line cut short by a kill


async def exited_gracefully(server: Server, within: float) -> None:
    """The process ends within `within` seconds of its SIGTERM, through its shutdown
    (uvicorn re-raises the signal once done, hence the -SIGTERM exit status)."""
    deadline = time.monotonic() + within
    while server.process.poll() is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"still running {within}s after SIGTERM:\n{server.log()}")
        await asyncio.sleep(0.1)
    assert server.process.returncode in (0, -signal.SIGTERM), server.log()
    assert "Application shutdown complete" in server.log(), server.log()


async def close_code(ws: Any, within: float = 10.0) -> int:
    """The code the server closes `ws` with (messages before it are skipped)."""
    async with asyncio.timeout(within):
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed as closed:
            if closed.rcvd is None:
                raise AssertionError("closed without a close frame") from closed
            return int(closed.rcvd.code)


async def ready(server: Server, within: float = 30.0) -> None:
    """/readyz answers 200: every backend connection of the process is back."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            try:
                response = await http.get(f"{server.base_url}/readyz")
                if response.status_code == 200:
                    return
                detail = response.text
            except httpx.HTTPError as exc:
                detail = repr(exc)
            if time.monotonic() > deadline:
                raise AssertionError(f"{server.base_url} not ready: {detail}")
            await asyncio.sleep(0.5)


async def test_worker_killed_mid_job(running: Cluster) -> None:
    victim, survivor = running.workers
    held: set[str] = set()

    async def kill_worker(client: Client) -> None:
        held.update(await wait_for_held_job(victim))
        os.kill(victim.process.pid, signal.SIGKILL)

    verdict = await run_load(running, "worker kill -9", kill_worker)
    attempts = {job["id"]: job["attempts"] for job in verdict.jobs}
    # Taken over by the survivor once the dead worker's lease ran out.
    assert all(attempts[job_id] == 2 for job_id in held), (held, attempts)
    assert survivor.alive()


async def test_broker_connections_closed(running: Cluster) -> None:
    async def close_connections(client: Client) -> None:
        await wait_for_held_job(running.workers[0])
        for _ in range(2):
            await asyncio.to_thread(
                rabbitmqctl, "close_all_connections", "-p", running.services.vhost, "fault test"
            )
            await asyncio.sleep(2)

    await run_load(running, "broker connections closed", close_connections)
    for server in [running.api, *running.workers]:
        assert server is not None
        assert server.alive()
        await ready(server)


async def test_database_sessions_terminated(running: Cluster) -> None:
    async def terminate_sessions(client: Client) -> None:
        await wait_for_held_job(running.workers[0])
        for _ in range(10):
            await asyncio.to_thread(running.terminate_database_sessions)
            await asyncio.sleep(0.3)

    await run_load(running, "database sessions terminated", terminate_sessions)
    for server in [running.api, *running.workers]:
        assert server is not None
        assert server.alive()
        await ready(server)


async def test_redis_stopped_and_restarted(running: Cluster) -> None:
    """Jobs keep running while Redis is away; live updates pause and then show the
    true state; cron (arq, on Redis) carries on."""
    assert running.api is not None
    watcher = await new_user(running.api.base_url)
    seen: dict[str, str] = {}

    async def watch(client: Client) -> None:
        query = "subscription { jobsUpdated { id status } }"
        async with client.subscription(query) as events:
            async for event in events:
                seen[event["jobsUpdated"]["id"]] = event["jobsUpdated"]["status"]

    async def restart_redis(client: Client) -> None:
        watcher.token = client.token  # the same user: its stream shows the load's jobs
        watching.append(asyncio.create_task(watch(watcher)))
        await wait_for_held_job(running.workers[0])
        running.redis.stop()
        await asyncio.sleep(3)
        running.redis.start()

    watching: list[asyncio.Task[None]] = []
    try:
        verdict = await run_load(running, "redis stopped 3 s", restart_redis)
        deadline = time.monotonic() + 20
        while sum(1 for status in seen.values() if status == "SUCCEEDED") < JOBS:
            assert time.monotonic() < deadline, f"live view after the outage: {seen}"
            await asyncio.sleep(0.2)
        assert set(seen) == {job["id"] for job in verdict.jobs}
    finally:
        for task in watching:
            task.cancel()
        await watcher.close()
    assert running.cron is not None
    assert running.cron.poll() is None, running.logs()[-5000:]
    await ready(running.api)


async def test_storage_unreachable(running: Cluster) -> None:
    async def cut_storage(client: Client) -> None:
        await wait_for_held_job(running.workers[0])
        running.services.proxy.down()
        await asyncio.sleep(4)
        running.services.proxy.up()

    await run_load(running, "S3 unreachable 4 s", cut_storage)


@pytest.mark.parametrize(
    "running",
    [{"IMGFLOW_SHUTDOWN_GRACE_SECONDS": "5"}, {"IMGFLOW_SHUTDOWN_GRACE_SECONDS": "0"}],
    ids=["grace-5s", "grace-0s"],
    indirect=True,
)
async def test_worker_sigterm_mid_load(running: Cluster) -> None:
    """Grace 5 s: the worker finishes what it holds. Grace 0: it hands its jobs back at
    once. Either way nothing is lost, nothing is left unacked, no attempt is wasted
    (every job ends with attempts == 1), and the process exits within the deadline."""
    grace = float(running.env["IMGFLOW_SHUTDOWN_GRACE_SECONDS"])
    victim = running.workers[0]

    async def terminate(client: Client) -> None:
        await wait_for_held_job(victim)
        victim.process.send_signal(signal.SIGTERM)
        await exited_gracefully(victim, within=grace + 10)

    verdict = await run_load(running, f"worker SIGTERM, grace {grace:.0f} s", terminate)
    assert {job["attempts"] for job in verdict.jobs} == {1}
    handed_back = [
        entry
        for entry in json_lines(victim.log())
        if entry.get("message") == "job handed back at shutdown"
    ]
    if grace == 0:
        assert handed_back, victim.log()


async def test_api_sigterm_closes_subscriptions_with_1012(running: Cluster) -> None:
    """A restarting API tells its subscribers so (1012, service restart); subscribing
    again through another API shows the job's current state."""
    assert running.api is not None
    client = await new_user(running.api.base_url)
    other_api = start_imgflow(running.workdir / "api2", running.env, "api")
    try:
        [job_id], _ = await submit_all(client, 1, time.monotonic() + 30)
        await settle(client, 1, time.monotonic() + 30)
        ws_url = running.api.base_url.replace("http", "ws", 1) + "/graphql"
        async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(
                json.dumps(
                    {
                        "type": "connection_init",
                        "payload": {"Authorization": f"Bearer {client.token}"},
                    }
                )
            )
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            subscribe = {"query": "subscription { jobsUpdated { id status } }"}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
            await asyncio.sleep(0.5)
            running.api.process.send_signal(signal.SIGTERM)
            assert await close_code(ws) == 1012
        await exited_gracefully(running.api, within=15)

        again = Client(other_api.base_url, token=client.token)
        events = await again.watch(job_id)
        assert [event["status"] for event in events] == ["SUCCEEDED"]
        await again.close()
    finally:
        await client.close()
        stop_server(other_api)
