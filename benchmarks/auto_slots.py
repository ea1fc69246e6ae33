"""Fixed 1-per-queue slots against `--concurrency auto` with the same total, in one run.

    python benchmarks/auto_slots.py [--burst 200] [--mixed 80] [--rate 4] [--repeats 1]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
        [--amqp amqp://guest:guest@127.0.0.1:5672/] [--jpeg F]

It runs one `imgflow api` on PostgreSQL and RabbitMQ (a database and a queue namespace
made for the run and removed after it; files in a temporary directory) and, for each
configuration in turn (fixed `rotate=1,resize=1,force_resize=1,convert=1`, then `auto`
with IMGFLOW_TOTAL_SLOTS=4; the order alternates when repeated), through the public
GraphQL API:

1. burst: submits `--burst` CONVERT jobs (the 1 MP JPEG to PNG) while no worker runs,
   then starts `imgflow worker --concurrency ...` and measures the drain: the first
   job's `startedAt` to the last one's `finishedAt`;
2. mixed: with that worker still running, submits `--mixed` jobs spread evenly over the
   four queues (rotate 90, resize and force-resize to 800x600, convert), `--rate` per
   second, and measures each queue's waiting, `startedAt - createdAt`: mean and 95th
   percentile.

It prints the burst speed-up (fixed drain time / auto drain time), each queue's waiting
under auto next to fixed, and the load average. Input: the shared bench images
(`../shared/bench-images/photo_1mp.jpg`), or `--jpeg F`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx

from imgflow.backends.broker.rabbitmq import DELAY_TIERS_SECONDS, Topology
from imgflow.domain import QueueName

ROOT = Path(__file__).resolve().parents[1]
Results = dict[str, list[tuple[float, dict[str, list[float]]]]]
FIXED = "rotate=1,resize=1,force_resize=1,convert=1"
TOTAL = 4
PIPELINES = {
    "ROTATE": [{"rotate": {"degrees": 90}}],
    "RESIZE": [{"resize": {"width": 800, "height": 600}}],
    "FORCE_RESIZE": [{"forceResize": {"width": 800, "height": 600}}],
    "CONVERT": [{"convert": {"format": "PNG"}}],
}
SUBMIT = (
    "mutation($file: Upload!, $ops: [OperationInput!]!) {"
    " submitImage(file: $file, operations: $ops) { id } }"
)
UNFINISHED = """{ queued: jobs(first: 1, status: QUEUED) { edges { node { id } } }
  processing: jobs(first: 1, status: PROCESSING) { edges { node { id } } } }"""
PAGE = """query($after: String) { jobs(first: 100, after: $after) {
  edges { node { id status queue createdAt startedAt finishedAt } }
  pageInfo { hasNextPage endCursor } } }"""


def start(
    command: list[str], env: dict[str, str], workdir: Path, port: int
) -> subprocess.Popen[bytes]:
    """`imgflow <command> --port <port>`, once /healthz answers."""
    log = (workdir / f"{command[0]}-{port}.log").open("ab")
    argv = [sys.executable, "-m", "imgflow.cli", *command, "--port", str(port)]
    process = subprocess.Popen(argv, cwd=workdir, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"imgflow {command[0]} did not start; see {log.name}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=60)


@contextmanager
def deployment(args: argparse.Namespace, workdir: Path) -> Iterator[dict[str, str]]:
    """A database and a queue namespace of their own (removed afterwards), files in
    `workdir`; yields the processes' environment."""
    name = f"imgflow_bench_{uuid.uuid4().hex[:8]}"
    admin = args.postgres.rsplit("/", 1)[0]
    asyncio.run(postgres(f"{admin}/postgres", f'CREATE DATABASE "{name}"'))
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGFLOW_")}
    env.update(
        IMGFLOW_DATA_DIR=str(workdir),
        IMGFLOW_DATABASE_URL=f"{admin.replace('postgresql://', 'postgresql+asyncpg://')}/{name}",
        IMGFLOW_BROKER_URL=args.amqp,
        IMGFLOW_NAMESPACE=name,
        IMGFLOW_JWT_SECRET=uuid.uuid4().hex * 2,
        IMGFLOW_TOTAL_SLOTS=str(TOTAL),
        IMGFLOW_MAX_ACTIVE_JOBS="100000",
        IMGFLOW_SUBMISSIONS_PER_MINUTE="100000",
    )
    try:
        subprocess.run([sys.executable, "-m", "imgflow.cli", "migrate"], env=env, check=True)
        yield env
    finally:
        asyncio.run(postgres(f"{admin}/postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(delete_queues(args.amqp, name))


async def postgres(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def delete_queues(amqp: str, namespace: str) -> None:
    names = Topology(namespace)
    connection = await aio_pika.connect(amqp)
    try:
        channel = await connection.channel()
        queues = [names.queue(q) for q in QueueName]
        queues += [names.dead_queue, *(names.retry_queue(t) for t in DELAY_TIERS_SECONDS)]
        for queue in queues:
            await channel.queue_delete(queue)
        for exchange in (names.jobs_exchange, names.dead_letter_exchange, names.retry_exchange):
            await channel.exchange_delete(exchange)
    finally:
        await connection.close()


class Api:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/graphql"
        self.http = httpx.AsyncClient(timeout=120)
        self.headers: dict[str, str] = {}

    async def register(self) -> None:
        query = 'mutation($e: String!) { register(email: $e, password: "correct horse") { token } }'
        email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
        answer = await self.call({"query": query, "variables": {"e": email}})
        self.headers = {"Authorization": f"Bearer {answer['register']['token']}"}

    async def call(self, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(self.url, json=body, headers=self.headers)
        answer = response.json()
        if answer.get("errors"):
            raise RuntimeError(answer["errors"])
        return dict(answer["data"])

    async def submit(self, data: bytes, queue: str) -> str:
        operations = json.dumps(
            {"query": SUBMIT, "variables": {"file": None, "ops": PIPELINES[queue]}}
        )
        form = {"operations": operations, "map": '{"0": ["variables.file"]}'}
        files = {"0": ("photo.jpg", data, "image/jpeg")}
        response = await self.http.post(self.url, data=form, files=files, headers=self.headers)
        answer = response.json()
        if answer.get("errors"):
            raise RuntimeError(answer["errors"])
        return str(answer["data"]["submitImage"]["id"])

    async def jobs(self, ids: set[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        after = None
        while True:
            page = (await self.call({"query": PAGE, "variables": {"after": after}}))["jobs"]
            found += [edge["node"] for edge in page["edges"] if edge["node"]["id"] in ids]
            if not page["pageInfo"]["hasNextPage"]:
                return found
            after = page["pageInfo"]["endCursor"]

    async def settled(self, ids: set[str]) -> list[dict[str, Any]]:
        while True:
            await asyncio.sleep(1.0)
            unfinished = await self.call({"query": UNFINISHED})
            if not any(unfinished[kind]["edges"] for kind in ("queued", "processing")):
                jobs = await self.jobs(ids)
                failed = [job for job in jobs if job["status"] != "SUCCEEDED"]
                if failed:
                    raise RuntimeError(f"{len(failed)} jobs did not succeed: {failed[:3]}")
                return jobs


def stamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


async def submit_burst(api: Api, data: bytes, count: int) -> set[str]:
    gate = asyncio.Semaphore(16)

    async def one() -> str:
        async with gate:
            return await api.submit(data, "CONVERT")

    return set(await asyncio.gather(*(one() for _ in range(count))))


async def mixed(api: Api, data: bytes, count: int, rate: float) -> dict[str, list[float]]:
    """Each queue's waits (seconds from submission to start) under a steady mixed load."""
    queues = list(PIPELINES)
    sending = []
    for index in range(count):
        sending.append(asyncio.create_task(api.submit(data, queues[index % len(queues)])))
        await asyncio.sleep(1 / rate)
    jobs = await api.settled(set(await asyncio.gather(*sending)))
    waits: dict[str, list[float]] = {queue: [] for queue in queues}
    for job in jobs:
        waits[job["queue"]].append(stamp(job["startedAt"]) - stamp(job["createdAt"]))
    return waits


async def measure(
    api: Api, worker: list[str], env: dict[str, str], args: argparse.Namespace, data: bytes
) -> tuple[float, dict[str, list[float]]]:
    """The burst waits in the queue before the worker starts; drained = first start to
    last finish. Then the mixed load on the same worker."""
    burst = await submit_burst(api, data, args.burst)
    process = await asyncio.to_thread(start, worker, env, Path(env["IMGFLOW_DATA_DIR"]), 8799)
    try:
        jobs = await api.settled(burst)
        first = min(stamp(job["startedAt"]) for job in jobs)
        drained = max(stamp(job["finishedAt"]) for job in jobs) - first
        waits = await mixed(api, data, args.mixed, args.rate)
    finally:
        await asyncio.to_thread(stop, process)
    return drained, waits


async def run(args: argparse.Namespace, data: bytes, env: dict[str, str]) -> Results:
    results: Results = {"fixed": [], "auto": []}
    api = Api(8798)
    try:
        await api.register()
        for repeat in range(args.repeats):
            order = [("fixed", FIXED), ("auto", "auto")]
            for name, concurrency in order if repeat % 2 == 0 else order[::-1]:
                worker = ["worker", "--concurrency", concurrency]
                results[name].append(await measure(api, worker, env, args, data))
                say(f"{name}: burst of {args.burst} drained in {results[name][-1][0]:.1f} s")
    finally:
        await api.http.aclose()
    return results


def say(line: str) -> None:
    print(line, flush=True)  # noqa: T201  # a benchmark reports on the terminal


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--mixed", type=int, default=80)
    parser.add_argument("--rate", type=float, default=4.0, help="mixed jobs per second")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument(
        "--jpeg", type=Path, default=ROOT.parent / "shared/bench-images/photo_1mp.jpg"
    )
    args = parser.parse_args()
    if not args.jpeg.exists():
        raise SystemExit(f"missing input {args.jpeg}: pass --jpeg")
    data = args.jpeg.read_bytes()
    with (
        tempfile.TemporaryDirectory(prefix="imgflow-bench-") as workdir,
        deployment(args, Path(workdir)) as env,
    ):
        api = start(["api"], env, Path(workdir), 8798)
        try:
            results = asyncio.run(run(args, data, env))
        finally:
            stop(api)
    report(results, args)


def report(results: Results, args: argparse.Namespace) -> None:
    drain = {name: statistics.median(r[0] for r in runs) for name, runs in results.items()}
    say(f"\nburst of {args.burst} CONVERT jobs, {TOTAL} slots (median of {args.repeats}):")
    for name in ("fixed", "auto"):
        say(f"  {name:5}: {drain[name]:.1f} s, {args.burst / drain[name]:.2f} jobs/s")
    say(f"  speed-up: {drain['fixed'] / drain['auto']:.2f}x")
    say(f"\nmixed load: {args.mixed} jobs at {args.rate}/s; wait before start, mean / p95 (s):")
    say("  queue          fixed            auto")
    for queue in PIPELINES:
        row = []
        for name in ("fixed", "auto"):
            waits = [w for run in results[name] for w in run[1][queue]]
            row.append(f"{statistics.mean(waits):6.2f} / {p95(waits):6.2f}")
        say(f"  {queue:12} {row[0]}   {row[1]}")
    say(f"\nload average: {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
