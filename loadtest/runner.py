"""The run: each job submitted, awaited and its result checked, at most C in flight."""

from __future__ import annotations

import argparse
import asyncio
import io
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
from PIL import Image

from loadtest.api import Api, Watcher
from loadtest.images import InputImage
from loadtest.mix import JobSpec, job_mix
from loadtest.report import Report, build_report
from loadtest.results import JobFailure, JobResult
from loadtest.terminal import Progress


def check_result(spec: JobSpec, data: bytes) -> None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            found_format, found_size = str(image.format), image.size
    except (OSError, ValueError) as exc:
        raise JobFailure("UNREADABLE_RESULT", str(exc)) from None
    if found_format != spec.expected_format:
        raise JobFailure("WRONG_FORMAT", f"{found_format}, expected {spec.expected_format}")
    if found_size != spec.expected_size:
        raise JobFailure("WRONG_SIZE", f"{found_size}, expected {spec.expected_size}")


def check_outputs(spec: JobSpec, event: dict[str, Any]) -> None:
    """Every output stored; the srcset's at the widths the input allows."""
    outputs = event.get("outputs") or []
    if any(output["image"] is None for output in outputs):
        raise JobFailure("MISSING_OUTPUT", ", ".join(o["name"] for o in outputs if not o["image"]))
    widths = sorted(o["image"]["width"] for o in outputs if o.get("srcsetWidth") is not None)
    if widths != spec.expected_widths():
        raise JobFailure("WRONG_SRCSET", f"{widths}, expected {spec.expected_widths()}")


async def run_job(api: Api, watcher: Watcher, spec: JobSpec) -> JobResult:
    started = time.monotonic()
    job = await api.submit(spec)
    if job["queue"] != spec.queue:
        raise JobFailure("WRONG_QUEUE", f"{job['queue']}, expected {spec.queue}")
    event, finished = await watcher.terminal_event(str(job["id"]))
    if event["status"] != "SUCCEEDED":
        error = event.get("error") or {}
        raise JobFailure(str(error.get("code") or event["status"]), str(error.get("message")))
    check_outputs(spec, event)
    fetch_started = time.monotonic()
    check_result(spec, await api.download(str(event["result"]["url"])))
    return JobResult(spec.queue, True, finished - started, time.monotonic() - fetch_started)


async def guarded_job(api: Api, watcher: Watcher, spec: JobSpec, job_seconds: float) -> JobResult:
    try:
        async with asyncio.timeout(job_seconds):
            return await run_job(api, watcher, spec)
    except JobFailure as failure:
        return JobResult(spec.queue, False, code=failure.code, reason=failure.reason)
    except TimeoutError:
        return JobResult(
            spec.queue, False, code="TIMEOUT", reason=f"no result in {job_seconds:g} s"
        )
    except Exception as exc:  # any other error fails this job only; the run goes on
        return JobResult(spec.queue, False, code=type(exc).__name__, reason=str(exc)[:200])


async def drive(
    api: Api, specs: Sequence[JobSpec], concurrency: int, job_seconds: float
) -> list[JobResult]:
    """C workers pull from one iterator, so at most C jobs are ever in flight."""
    progress = Progress(len(specs))
    pending: Iterator[JobSpec] = iter(specs)
    results: list[JobResult] = []

    async def worker() -> None:
        watcher = api.watcher()
        try:
            for spec in pending:  # asyncio is single-threaded: next() never races
                result = await guarded_job(api, watcher, spec, job_seconds)
                results.append(result)
                progress.update(result)
        finally:
            await watcher.close()

    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, len(specs))):
            group.create_task(worker())
    return results


async def load_test(args: argparse.Namespace, images: list[InputImage]) -> Report:
    base_url = args.url.rstrip("/")
    # Keep-alive connections sized to the jobs in flight: one each for the upload and
    # the download, with headroom so neither waits on the pool.
    limits = httpx.Limits(max_connections=args.concurrency * 2, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=args.timeout, limits=limits) as http:
        api = Api(base_url, http)
        await api.sign_in(args.email, args.password)
        specs = job_mix(args.jobs, images, args.srcset or ())
        started = time.monotonic()
        results = await drive(api, specs, args.concurrency, args.timeout)
        duration = time.monotonic() - started
    names = [image.name for image in images]
    return build_report(results, duration, base_url, args.concurrency, names)
