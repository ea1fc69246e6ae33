"""A load of jobs through the public API that survives the faults it is meant to see.

Submissions carry idempotency keys and are repeated, with the same key, whenever the
API answers UNAVAILABLE or cannot be reached: the client behaviour the key exists for.
The verdict reads the database through the API (never the live events), and counts
result objects in S3 directly.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.client import Client, GraphQLErrors
from tests.imaging import quadrants
from tests.imaging import to_bytes as encode

# A blur first makes each job last long enough (~0.1-0.2 s here) that faults catch
# jobs in the middle; the last step spreads them over the four queues.
PIPELINES = [
    [{"blur": {"radius": 6}}, {"rotate": {"degrees": 90}}],
    [{"blur": {"radius": 6}}, {"resize": {"width": 800}}],
    [{"blur": {"radius": 6}}, {"forceResize": {"width": 600, "height": 600}}],
    [{"blur": {"radius": 6}}, {"convert": {"format": "WEBP"}}],
]
RETRYABLE_CODES = {"UNAVAILABLE"}
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}
SUMMARIES: list[str] = []
"""One line per fault test, printed at the end of the pytest run (see conftest)."""

LIST_JOBS = """
query($after: String) {
  jobs(first: 100, after: $after) {
    edges { node { id status attempts error { code } result { bytes } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def source_image() -> bytes:
    """Big enough that a job takes tens of milliseconds: faults land mid-job."""
    return encode(quadrants(1600, 1200), "JPEG", quality=90)


@dataclass
class Verdict:
    name: str
    submitted: int
    jobs: list[dict[str, Any]] = field(default_factory=list)
    results: list[str] = field(default_factory=list)
    submit_retries: int = 0

    @property
    def by_status(self) -> Counter[str]:
        return Counter(job["status"] for job in self.jobs)

    @property
    def failed_by_code(self) -> Counter[str]:
        return Counter(job["error"]["code"] for job in self.jobs if job["status"] == "FAILED")

    @property
    def lost(self) -> int:
        """Accepted jobs that are not terminal (or not there at all)."""
        terminal = sum(1 for job in self.jobs if job["status"] in TERMINAL)
        return self.submitted - min(terminal, self.submitted)

    @property
    def duplicated(self) -> int:
        """Jobs beyond one per submission, plus result objects beyond one per job."""
        extra_jobs = max(0, len(self.jobs) - self.submitted)
        per_job = Counter(key.rsplit("/", 1)[1].split(".", 1)[0] for key in self.results)
        extra_results = sum(count - 1 for count in per_job.values() if count > 1)
        return extra_jobs + extra_results

    def summary(self) -> str:
        failed = ",".join(f"{code}:{n}" for code, n in sorted(self.failed_by_code.items()))
        return (
            f"{self.name}: submitted={self.submitted} succeeded={self.by_status['SUCCEEDED']}"
            f" failed={{{failed}}} lost={self.lost} duplicated={self.duplicated}"
            f" submit_retries={self.submit_retries}"
        )


async def submit_all(client: Client, count: int, deadline: float) -> tuple[list[str], int]:
    """Submit `count` jobs, eight at a time; each repeated with its key until accepted."""
    data = source_image()
    gate = asyncio.Semaphore(8)
    retries = 0

    async def one(index: int) -> str:
        nonlocal retries
        async with gate:
            while True:
                try:
                    job = await client.submit(
                        data, PIPELINES[index % len(PIPELINES)], idempotency_key=f"load-{index}"
                    )
                    return str(job["id"])
                except GraphQLErrors as errors:
                    if not set(errors.codes) <= RETRYABLE_CODES or time.monotonic() > deadline:
                        raise
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                retries += 1
                await asyncio.sleep(0.5)

    ids = await asyncio.gather(*(one(i) for i in range(count)))
    return list(ids), retries


async def all_jobs(client: Client) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await client.execute(LIST_JOBS, {"after": after}))["jobs"]
        jobs += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return jobs
        after = page["pageInfo"]["endCursor"]


async def settle(client: Client, count: int, deadline: float) -> list[dict[str, Any]]:
    """The user's jobs once `count` of them are terminal, or as they are at the deadline."""
    jobs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            jobs = await all_jobs(client)
        except (GraphQLErrors, httpx.TransportError):
            jobs = jobs  # the API is what is being broken: ask again
        else:
            if sum(1 for job in jobs if job["status"] in TERMINAL) >= count:
                return jobs
        await asyncio.sleep(0.5)
    return jobs
