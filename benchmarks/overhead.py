"""What imgflow costs around the image work: end-to-end runs against raw Pillow runs
interleaved before and after each, as ratios of wall time and of CPU per job.

Throughput (default): per round, the raw mix (`raw_baseline.run_once`, 2 threads) ->
`python -m loadtest` against the running service -> the raw mix again. The service's
processes (`--pid role=PID`, e.g. `serve=...`, or `api=... --pid worker=...`) are read
from /proc before and after the load test: CPU per job of each, split into its main
thread (the asyncio event loop) and its other threads (Pillow pool, aiosqlite,
`to_thread`). The load generator's own CPU is reported and kept out of the ratio.

Latency (`--latency`): one job at a time; each job's end-to-end latency (upload to
terminal event) minus the median time of the same job in the raw run (1 thread, before
and after), P50 and P99.

The load average is printed beside every figure: other work on the machine moves the
figures, ratios measured in one run much less.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from proc_cpu import Sample, loadavg, sample
from raw_baseline import DEFAULT_JPEG, DEFAULT_PNG, Job, Run, build_jobs, load_inputs, run_once

from imgflow.imaging.info import ImageLimits
from loadtest.api import Api, Watcher
from loadtest.mix import JobSpec
from loadtest.report import percentile
from loadtest.results import JobFailure


def output(text: str) -> None:
    """The one place this script writes to the terminal."""
    print(text, flush=True)  # noqa: T201


def raw_run(jobs: Sequence[Job], threads: int, when: str) -> Run:
    run = run_once(jobs, threads, ImageLimits())
    output(
        f"  raw {when:<6} {run.jobs_per_s:6.2f} jobs/s  CPU {run.cpu_ms_per_job:6.1f} ms/job"
        f"  ({threads} thread(s), load {loadavg()})"
    )
    return run


def service_samples(pids: Mapping[str, int]) -> dict[str, Sample]:
    return {role: sample(pid) for role, pid in pids.items()}


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load_test(args: argparse.Namespace) -> float:
    """One `python -m loadtest --json` run; returns its throughput (jobs/s)."""
    command = [sys.executable, "-m", "loadtest", "--url", args.url, "--jobs", str(args.jobs)]
    command += ["--concurrency", str(args.concurrency), "--jpeg", str(args.jpeg)]
    command += ["--png", str(args.png), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        raise SystemExit(f"overhead: the load test did not run:\n{done.stderr}") from None
    overall = report["overall"]
    if overall["succeeded"] != overall["jobs"]:
        failed = overall["jobs"] - overall["succeeded"]
        raise SystemExit(f"overhead: {failed} jobs failed: {report.get('failures')}")
    return float(overall["throughput"])


def cpu_table(spent: Mapping[str, Sample], jobs: int) -> float:
    """Prints CPU per job per process; returns the processes' total CPU ms per job."""
    total = 0.0
    for role, cpu in spent.items():
        per_job = cpu.total_s * 1000 / jobs
        total += per_job
        output(
            f"  {role:<8} CPU {per_job:6.1f} ms/job  (event-loop thread "
            f"{cpu.main_thread_s * 1000 / jobs:5.1f}, other threads "
            f"{cpu.other_threads_s * 1000 / jobs:5.1f})"
        )
    return total


def throughput_round(args: argparse.Namespace, jobs: Sequence[Job]) -> tuple[float, float]:
    before = raw_run(jobs, 2, "before")
    started, client_started = service_samples(args.pid), children_cpu_s()
    output(f"  load test {args.jobs} jobs, concurrency {args.concurrency} (load {loadavg()})")
    throughput = load_test(args)
    ended, client_s = service_samples(args.pid), children_cpu_s() - client_started
    output(f"  end to end {throughput:6.2f} jobs/s  (load {loadavg()})")
    spent = {role: ended[role] - started[role] for role in args.pid}
    imgflow_ms = cpu_table(spent, args.jobs)
    output(f"  client   CPU {client_s * 1000 / args.jobs:6.1f} ms/job  (kept out of the ratio)")
    after = raw_run(jobs, 2, "after")
    raw_jobs_per_s = (before.jobs_per_s + after.jobs_per_s) / 2
    raw_cpu_ms = (before.cpu_ms_per_job + after.cpu_ms_per_job) / 2
    wall_ratio, cpu_ratio = throughput / raw_jobs_per_s, raw_cpu_ms / imgflow_ms
    output(
        f"  => wall ratio {wall_ratio:.2f}, CPU ratio {cpu_ratio:.2f}  (imgflow "
        f"{imgflow_ms:.1f} ms/job, of which {imgflow_ms - raw_cpu_ms:.1f} beyond the raw "
        f"image work's {raw_cpu_ms:.1f})"
    )
    return wall_ratio, cpu_ratio


def job_medians(runs: Sequence[Run]) -> dict[str, float]:
    samples: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        for label, ms in run.job_ms:
            samples[label].append(ms)
    return {label: statistics.median(values) for label, values in samples.items()}


TIMES = "query($id: ID!) { job(id: $id) { createdAt startedAt finishedAt } }"
STAGES = ("accept", "queue", "process", "deliver")
"""A job's time split by its own timestamps (one clock: client and server share the
machine): accept = upload start -> createdAt, queue = -> startedAt, process = ->
finishedAt (the image work included), deliver = -> the terminal event at the client."""


async def timed_jobs(
    args: argparse.Namespace, jobs: Sequence[Job]
) -> tuple[list[tuple[str, float]], list[dict[str, float]]]:
    """Each job alone, one after another: (label, end-to-end latency in ms), and each
    job's stages in ms."""
    async with httpx.AsyncClient(timeout=120) as http:
        api = Api(args.url.rstrip("/"), http)
        await api.sign_in(None, None)
        watcher = api.watcher()
        latencies = []
        marks: list[tuple[str, float, float]] = []  # job id, upload start, event (epoch s)
        try:
            for job in jobs:
                begun = time.time() - time.monotonic()  # epoch at monotonic 0
                try:
                    result = await run_job(api, watcher, job.spec, begun)
                except JobFailure as failure:
                    raise SystemExit(f"overhead: a job failed: {job.label}: {failure}") from None
                latencies.append((job.label, (result.latency_s or 0.0) * 1000))
                marks.append(result.marks)
        finally:
            await watcher.close()
        stages = [await job_stages(api, *mark) for mark in marks]
    return latencies, stages


@dataclass(frozen=True)
class Timed:
    latency_s: float
    marks: tuple[str, float, float]


async def run_job(api: Api, watcher: Watcher, spec: JobSpec, epoch_offset: float) -> Timed:
    started = time.monotonic()
    job = await api.submit(spec)
    event, finished = await watcher.terminal_event(str(job["id"]))
    if event["status"] != "SUCCEEDED":
        raise JobFailure(str(event["status"]), json.dumps(event.get("error"))[:200])
    return Timed(
        finished - started, (str(job["id"]), started + epoch_offset, finished + epoch_offset)
    )


async def job_stages(api: Api, job_id: str, upload: float, event: float) -> dict[str, float]:
    response = await api.http.post(
        api.graphql_url,
        json={"query": TIMES, "variables": {"id": job_id}},
        headers={"Authorization": f"Bearer {api.token}"},
    )
    times = response.json()["data"]["job"]
    created, started, finished = (
        datetime.fromisoformat(times[name]).timestamp()
        for name in ("createdAt", "startedAt", "finishedAt")
    )
    points = (upload, created, started, finished, event)
    return {stage: (points[i + 1] - points[i]) * 1000 for i, stage in enumerate(STAGES)}


def latency_round(args: argparse.Namespace, jobs: Sequence[Job]) -> list[float]:
    before = raw_run(jobs, 1, "before")
    output(f"  {args.jobs} jobs one at a time (load {loadavg()})")
    started = service_samples(args.pid)
    latencies, stages = asyncio.run(timed_jobs(args, jobs))
    ended = service_samples(args.pid)
    cpu_table({role: ended[role] - started[role] for role in args.pid}, args.jobs)
    after = raw_run(jobs, 1, "after")
    image_ms = job_medians([before, after])
    overheads = sorted(ms - image_ms[label] for label, ms in latencies)
    p50, p99 = percentile(overheads, 50), percentile(overheads, 99)
    total_p50 = statistics.median(ms for _, ms in latencies)
    split = ", ".join(
        f"{stage} {statistics.median(job[stage] for job in stages):.1f}" for stage in STAGES
    )
    output(f"  where it goes, medians in ms: {split} (process includes the image work)")
    output(
        f"  => latency P50 {total_p50:.1f} ms; beyond the image work P50 {p50:.1f} ms, "
        f"P99 {p99:.1f} ms  (load {loadavg()})"
    )
    return overheads


def role_pid(text: str) -> tuple[str, int]:
    role, _, pid = text.partition("=")
    if not role or not pid.isdigit() or not Path(f"/proc/{pid}").is_dir():
        raise argparse.ArgumentTypeError(f"ROLE=PID of a running process, got {text!r}")
    return role, int(pid)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the service's base URL")
    parser.add_argument(
        "--pid",
        type=role_pid,
        action="append",
        required=True,
        help="ROLE=PID of an imgflow process to measure (repeat: serve=, or api= worker=)",
    )
    parser.add_argument("--jobs", type=int, default=200, help="jobs per end-to-end run")
    parser.add_argument("--concurrency", type=int, default=20, help="load test concurrency")
    parser.add_argument("--rounds", type=int, default=1, help="raw/e2e/raw rounds")
    parser.add_argument("--latency", action="store_true", help="one job at a time")
    parser.add_argument("--jpeg", type=Path, default=DEFAULT_JPEG, help="JPEG input")
    parser.add_argument("--png", type=Path, default=DEFAULT_PNG, help="PNG input")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.pid = dict(args.pid)
    jobs = build_jobs(args.jobs, load_inputs(args.jpeg, args.png))
    output(f"{os.cpu_count()} CPUs, load average {loadavg()}, processes {args.pid}")
    run_once(jobs[:8], 2, ImageLimits())  # warm-up: imports, first decodes
    for number in range(1, args.rounds + 1):
        output(f"round {number}")
        if args.latency:
            latency_round(args, jobs)
        else:
            throughput_round(args, jobs)
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    status = main()
    output(f"done in {time.monotonic() - started:.0f} s")
    sys.exit(status)
