"""Fixed 1-per-queue slots against `--concurrency auto` with the same total, in one run.

    python benchmarks/auto_slots.py [--burst 200] [--mixed 80] [--rate 4] [--repeats 1]

For each configuration in turn (fixed `rotate=1,resize=1,force_resize=1,convert=1`, then
`auto` with IMGFLOW_TOTAL_SLOTS=4; alternating when repeated), it starts a fresh
`imgflow serve` on the embedded backends and, through the public GraphQL API:

1. burst: submits `--burst` CONVERT jobs (the 1 MP JPEG to PNG) at once, 16 uploads
   in flight, and measures the drain: first submission to last result, from the jobs'
   own `createdAt` and `finishedAt`;
2. mixed: then submits `--mixed` jobs spread evenly over the four queues (rotate 90,
   resize and force-resize to 800x600, convert), `--rate` per second, and measures each
   queue's waiting: `startedAt - createdAt`, mean and 95th percentile.

It prints both, the burst speed-up (fixed drain time / auto drain time), each queue's
waiting under auto next to fixed, and the load average. Input: the shared bench images
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
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
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
PAGE = """query($after: String) { jobs(first: 100, after: $after) {
  edges { node { id status queue createdAt startedAt finishedAt } }
  pageInfo { hasNextPage endCursor } } }"""


def start_serve(concurrency: str, workdir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGFLOW_")}
    env.update(
        IMGFLOW_TOTAL_SLOTS=str(TOTAL),
        IMGFLOW_MAX_ACTIVE_JOBS="100000",
        IMGFLOW_SUBMISSIONS_PER_MINUTE="100000",
    )
    command = [sys.executable, "-m", "imgflow.cli", "serve", "--port", str(port)]
    log = (workdir / "serve.log").open("wb")
    process = subprocess.Popen(
        [*command, "--concurrency", concurrency], cwd=workdir, env=env, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"imgflow serve did not start; see {workdir / 'serve.log'}")


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

    async def submit(self, data: bytes, queue: str) -> None:
        operations = json.dumps(
            {"query": SUBMIT, "variables": {"file": None, "ops": PIPELINES[queue]}}
        )
        form = {"operations": operations, "map": '{"0": ["variables.file"]}'}
        files = {"0": ("photo.jpg", data, "image/jpeg")}
        response = await self.http.post(self.url, data=form, files=files, headers=self.headers)
        if response.json().get("errors"):
            raise RuntimeError(response.json()["errors"])

    async def jobs(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        after = None
        while True:
            page = (await self.call({"query": PAGE, "variables": {"after": after}}))["jobs"]
            found += [edge["node"] for edge in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                return found
            after = page["pageInfo"]["endCursor"]

    async def settled(self, count: int) -> list[dict[str, Any]]:
        while True:
            jobs = await self.jobs()
            if sum(job["status"] in ("SUCCEEDED", "FAILED") for job in jobs) >= count:
                failed = [job for job in jobs if job["status"] == "FAILED"]
                if failed:
                    raise RuntimeError(f"{len(failed)} jobs failed")
                return jobs
            await asyncio.sleep(0.5)


def stamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


async def burst(api: Api, data: bytes, count: int) -> float:
    """Seconds from the first submission to the last result."""
    gate = asyncio.Semaphore(16)

    async def one() -> None:
        async with gate:
            await api.submit(data, "CONVERT")

    await asyncio.gather(*(one() for _ in range(count)))
    jobs = await api.settled(count)
    return max(stamp(j["finishedAt"]) for j in jobs) - min(stamp(j["createdAt"]) for j in jobs)


async def mixed(
    api: Api, data: bytes, count: int, rate: float, before: int
) -> dict[str, list[float]]:
    """Each queue's waits (seconds from submission to start) under a steady mixed load."""
    queues = list(PIPELINES)
    sending = []
    for index in range(count):
        sending.append(asyncio.create_task(api.submit(data, queues[index % len(queues)])))
        await asyncio.sleep(1 / rate)
    await asyncio.gather(*sending)
    jobs = (await api.settled(before + count))[:count]  # newest first: this phase's
    waits: dict[str, list[float]] = {queue: [] for queue in queues}
    for job in jobs:
        waits[job["queue"]].append(stamp(job["startedAt"]) - stamp(job["createdAt"]))
    return waits


async def measure(
    concurrency: str, args: argparse.Namespace, data: bytes
) -> tuple[float, dict[str, list[float]]]:
    port = 8700 + os.getpid() % 200
    with tempfile.TemporaryDirectory(prefix="imgflow-bench-") as workdir:
        process = start_serve(concurrency, Path(workdir), port)
        api = Api(port)
        try:
            await api.register()
            drained = await burst(api, data, args.burst)
            waits = await mixed(api, data, args.mixed, args.rate, args.burst)
        finally:
            await api.http.aclose()
            process.terminate()
            process.wait(timeout=60)
    return drained, waits


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
    parser.add_argument(
        "--jpeg", type=Path, default=ROOT.parent / "shared/bench-images/photo_1mp.jpg"
    )
    args = parser.parse_args()
    if not args.jpeg.exists():
        raise SystemExit(f"missing input {args.jpeg}: pass --jpeg")
    data = args.jpeg.read_bytes()
    results: dict[str, list[tuple[float, dict[str, list[float]]]]] = {"fixed": [], "auto": []}
    for repeat in range(args.repeats):
        order = [("fixed", FIXED), ("auto", "auto")]
        for name, concurrency in order if repeat % 2 == 0 else order[::-1]:
            results[name].append(asyncio.run(measure(concurrency, args, data)))
            drained, _ = results[name][-1]
            say(f"{name}: burst of {args.burst} drained in {drained:.1f} s")
    drain = {name: statistics.median(r[0] for r in runs) for name, runs in results.items()}
    say(f"\nburst of {args.burst} CONVERT jobs, {TOTAL} slots in all (median of {args.repeats}):")
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
