"""Several hosts, really: the API and two workers on three network namespaces, one worker
host cut off the network in the middle of a job, then healed.

The API host (`imgflow api` and `imgflow cron`) and two worker hosts (`imgflow worker
--concurrency auto`) each live in a namespace of their own and reach PostgreSQL,
RabbitMQ, Redis and S3 (moto) over their veth link (tests/faults/hosts.py). A load goes
in through the API while a subscription on the API host follows every change to the
user's jobs. As soon as worker host B holds a job, its link goes down: nothing it sends
arrives, nothing is reset. B's jobs are taken over once their lease runs out, the load
finishes on A, B's link comes back, and B takes jobs again without a restart.

Checked: every accepted job SUCCEEDED exactly once (one job per submission, one result
object per job, one SUCCEEDED event per job), the jobs B held when cut were finished by
another attempt, the subscription saw each job QUEUED, PROCESSING and SUCCEEDED, and B
finished jobs after healing. Prints one summary line, like the fault suite.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.backends import SECRET, postgres_database
from tests.client import Client
from tests.conftest import Server, migrate, new_user, process_env, stop_server, wait_healthy
from tests.faults.cluster import FAULT_SETTINGS, FaultServices, Redis, fault_services
from tests.faults.hosts import Host, hosts, require_root_and_iproute2
from tests.faults.load import PIPELINES, SUMMARIES, all_jobs, settle, source_image
from tests.faults.proxy import free_port

FIRST_LOAD = 16
AMQP_HEARTBEAT_SECONDS = 5
"""RabbitMQ drops a silent connection after about two of these, and so gives the cut
host's unacked messages to the other host (housekeeping may re-publish them first)."""
STREAM = "subscription { jobsUpdated { id status attempts } }"


def moved(url: str, host: Host, query: str = "") -> str:
    """`url` (a service on the root namespace's 127.0.0.1) as `host` reaches it."""
    parts = urlsplit(url)
    address, port = host.reach(parts.port or 0)
    netloc = f"{parts.netloc.rsplit('@', 1)[0]}@" if "@" in parts.netloc else ""
    return urlunsplit(
        (parts.scheme, f"{netloc}{address}:{port}", parts.path, query or parts.query, "")
    )


class Deployment:
    """The processes on their hosts; stops them all on close."""

    def __init__(self, base_env: dict[str, str], services: FaultServices, workdir: Path) -> None:
        self.base_env = base_env
        self.services = services
        self.workdir = workdir
        self.servers: list[Server] = []
        self.cron: subprocess.Popen[bytes] | None = None

    def env_on(self, host: Host) -> dict[str, str]:
        env = dict(self.base_env)
        env["IMGFLOW_DATABASE_URL"] = moved(env["IMGFLOW_DATABASE_URL"], host)
        env["IMGFLOW_BROKER_URL"] = moved(
            env["IMGFLOW_BROKER_URL"], host, f"heartbeat={AMQP_HEARTBEAT_SECONDS}"
        )
        env["IMGFLOW_REDIS_URL"] = moved(env["IMGFLOW_REDIS_URL"], host)
        env["IMGFLOW_S3_ENDPOINT_URL"] = moved(self.services.moto.endpoint_url, host)
        return env

    def start(self, host: Host, command: str, *args: str) -> Server:
        workdir = self.workdir / f"{host.name}-{command}"
        workdir.mkdir(parents=True, exist_ok=True)
        log_path = workdir / "server.log"
        argv = [sys.executable, "-m", "imgflow.cli", command, "--host", host.address]
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                host.command(*argv, "--port", "8000", *args),
                cwd=workdir,
                env=process_env(self.env_on(host)),
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        server = Server(f"http://{host.address}:8000", process, workdir, log_path)
        self.servers.append(server)
        wait_healthy(server, 60)
        return server

    def start_cron(self, host: Host) -> None:
        log_path = self.workdir / "cron.log"
        with log_path.open("ab") as log_file:
            self.cron = subprocess.Popen(
                host.command(sys.executable, "-m", "imgflow.cli", "cron"),
                cwd=self.workdir,
                env=process_env(self.env_on(host)),
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )

    def close(self) -> None:
        for server in self.servers:
            if server.alive():
                stop_server(server)
        if self.cron is not None and self.cron.poll() is None:
            self.cron.terminate()
            try:
                self.cron.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.cron.kill()
                self.cron.wait()

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.parent.name}/{path.name}\n{path.read_text(errors='replace')[-6000:]}"
            for path in sorted(self.workdir.rglob("*.log"))
        )


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Deployment, dict[str, Host]]]:
    require_root_and_iproute2()
    with ExitStack() as stack:
        services = stack.enter_context(fault_services())
        redis = Redis(free_port(), tmp_path)
        redis.start()
        stack.callback(redis.stop)
        database_url = stack.enter_context(postgres_database())
        namespace = f"hosts-{uuid.uuid4().hex[:8]}"
        env = {
            **FAULT_SETTINGS,
            "IMGFLOW_TOTAL_SLOTS": "2",
            "IMGFLOW_DATABASE_URL": database_url,
            "IMGFLOW_BROKER_URL": services.amqp_url,
            "IMGFLOW_REDIS_URL": redis.url,
            "IMGFLOW_STORAGE_URL": f"s3://{services.bucket}/{namespace}",
            "IMGFLOW_S3_ENDPOINT_URL": services.moto.endpoint_url,
            "IMGFLOW_NAMESPACE": namespace,
            "IMGFLOW_JWT_SECRET": SECRET,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
        }
        migrate(env, tmp_path)
        ports = [
            urlsplit(database_url).port or 5432,
            urlsplit(services.amqp_url).port or 5672,
            redis.port,
            urlsplit(services.moto.endpoint_url).port or 80,
        ]
        made = stack.enter_context(hosts(["api", "a", "b"], ports))
        running = Deployment(env, services, tmp_path)
        stack.callback(running.close)
        with ThreadPoolExecutor(3) as pool:  # in order: api, a, b
            starting = [pool.submit(running.start, made["api"], "api")]
            starting += [
                pool.submit(running.start, made[name], "worker", "--concurrency", "auto")
                for name in ("a", "b")
            ]
            servers = [started.result() for started in starting]
        running.servers = servers
        running.start_cron(made["api"])
        yield running, made


def log_entries(server: Server, message: str) -> set[str]:
    """Job ids of the server's JSON log lines with this message."""
    found = set()
    for line in server.log().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("message") == message and "job_id" in entry:
                found.add(entry["job_id"])
    return found


def holding(server: Server) -> set[str]:
    return log_entries(server, "job started") - log_entries(server, "job succeeded")


async def submit(client: Client, count: int, prefix: str) -> list[str]:
    data = source_image()
    gate = asyncio.Semaphore(8)

    async def one(index: int) -> str:
        async with gate:
            pipeline = PIPELINES[index % len(PIPELINES)]
            job = await client.submit(data, pipeline, idempotency_key=f"{prefix}-{index}")
            return str(job["id"])

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def follow(client: Client, seen: dict[str, list[str]]) -> None:
    async with client.subscription(STREAM) as events:
        async for event in events:
            job = event["jobsUpdated"]
            seen.setdefault(job["id"], []).append(job["status"])


async def until(condition: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.05)


async def test_a_worker_host_cut_off_mid_job_and_healed(
    deployment: tuple[Deployment, dict[str, Host]],
) -> None:
    running, made = deployment
    api, _, worker_b = running.servers
    client = await new_user(api.base_url)
    seen: dict[str, list[str]] = {}
    following = asyncio.create_task(follow(client, seen))
    try:
        # The stream is live once a probe's events come through it.
        probes = await submit(client, 1, "probe")
        await until(lambda: "SUCCEEDED" in seen.get(probes[0], []), 30, "a probe seen")

        loading = asyncio.create_task(submit(client, FIRST_LOAD, "first"))
        await until(lambda: holding(worker_b), 30, "host B holding a job")
        made["b"].cut()
        cut_at = time.monotonic()
        first = await loading
        jobs = await settle(client, FIRST_LOAD + 1, time.monotonic() + 60)
        finished_without_b = time.monotonic() - cut_at
        ended = Counter(job["status"] for job in jobs)
        assert ended == {"SUCCEEDED": FIRST_LOAD + 1}, f"{ended}\n{running.logs()}"
        taken_over = holding(worker_b) & set(first)
        assert taken_over, "host B was cut while it held a job"
        attempts = {job["id"]: job["attempts"] for job in jobs}
        assert all(attempts[job_id] >= 2 for job_id in taken_over), (taken_over, attempts)

        made["b"].heal()
        second: list[str] = []
        for round_number in range(12):  # until B, not restarted, takes jobs again
            second += await submit(client, 4, f"second-{round_number}")
            await settle(client, FIRST_LOAD + 1 + len(second), time.monotonic() + 60)
            if log_entries(worker_b, "job succeeded") & set(second):
                break
        healed_did = log_entries(worker_b, "job succeeded") & set(second)
        assert healed_did, "host B took jobs again after healing"
        assert worker_b.alive()

        submitted = [*first, *second]
        await until(
            lambda: all("SUCCEEDED" in seen.get(job_id, []) for job_id in submitted),
            20,
            "every job's SUCCEEDED on the subscription",
        )
        final = await all_jobs(client)
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        await client.close()

    results = result_keys(running)
    per_job = [key.rsplit("/", 1)[1].split(".", 1)[0] for key in results]
    duplicated = len(final) - len(submitted) - len(probes) + len(per_job) - len(set(per_job))
    summary = (
        f"worker host cut off and healed: submitted={len(submitted)}"
        f" succeeded={sum(job['status'] == 'SUCCEEDED' for job in final) - len(probes)}"
        f" lost={sum(job['status'] != 'SUCCEEDED' for job in final)} duplicated={duplicated}"
        f" taken_over={len(taken_over)} healed_host_jobs={len(healed_did)}"
        f" first_load_done_in={finished_without_b:.1f}s"
    )
    SUMMARIES.append(summary)
    print(summary)
    context = f"{summary}\n{running.logs()}"
    assert all(job["status"] == "SUCCEEDED" for job in final), context
    assert duplicated == 0, context
    assert sorted(set(per_job)) == sorted(job["id"] for job in final), context
    for job_id in submitted:
        statuses = seen[job_id]
        assert statuses[0] == "QUEUED", (job_id, statuses)
        assert "PROCESSING" in statuses, (job_id, statuses)
        assert statuses[-1] == "SUCCEEDED", (job_id, statuses)
        assert statuses.count("SUCCEEDED") == 1, (job_id, statuses)


def result_keys(running: Deployment) -> list[str]:
    s3 = running.services.s3()
    prefix = running.base_env["IMGFLOW_STORAGE_URL"].split("/", 3)[3]
    listed = s3.list_objects_v2(  # type: ignore[attr-defined]
        Bucket=running.services.bucket, Prefix=f"{prefix}/results/"
    )
    return [item["Key"] for item in listed.get("Contents", [])]
