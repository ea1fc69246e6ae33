"""Worker CPU of one srcset job against the same widths as separate jobs (Linux /proc).

Start a service (for the worker's own figure: `imgflow api` and `imgflow worker` as
separate processes, the services mode), then:

    python benchmarks/srcset_cpu.py --url http://127.0.0.1:8000 --pid <worker pid>

Each round submits, one after the other and each awaited to its end: one job with
`srcset: {widths: [320, 640, 1280, 1920, 2560]}`, and five jobs with one `resize
width=W` each (all five submitted, then awaited). It reads the process's CPU time
(utime + stime, every thread) around each, alternating which goes first, and prints
the median CPU seconds of each and their ratio (srcset / separate), measured in the
same run, next to the load average. Every output is checked for its width.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

WIDTHS = [320, 640, 1280, 1920, 2560]
DEFAULT_IMAGE = Path(__file__).resolve().parents[1] / ".." / "shared/bench-images/photo_12mp.jpg"
SUBMIT = """
mutation($file: Upload!, $operations: [OperationInput!], $srcset: SrcsetInput) {
  submitImage(file: $file, operations: $operations, srcset: $srcset) { id }
}
"""
STATUS = """
query($id: ID!) { job(id: $id) { status outputs { name image { width } } error { code } } }
"""


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process and its threads, in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Api:
    def __init__(self, url: str, image: bytes) -> None:
        self.graphql = url.rstrip("/") + "/graphql"
        self.http = httpx.Client(timeout=120)
        self.image = image
        email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
        register = (
            'mutation($e: String!) { register(email: $e, password: "correct horse") { token } }'
        )
        answer = self.http.post(self.graphql, json={"query": register, "variables": {"e": email}})
        self.http.headers["Authorization"] = f"Bearer {answer.json()['data']['register']['token']}"

    def submit(self, **variables: Any) -> str:
        payload = {"query": SUBMIT, "variables": {"file": None, **variables}}
        form = {"operations": json.dumps(payload), "map": json.dumps({"0": ["variables.file"]})}
        files = {"0": ("photo.jpg", self.image, "image/jpeg")}
        body = self.http.post(self.graphql, data=form, files=files).json()
        if body.get("errors"):
            raise SystemExit(f"submit refused: {body['errors']}")
        return str(body["data"]["submitImage"]["id"])

    def wait(self, job_id: str) -> list[int]:
        """The widths of the finished job's outputs; exits on a failed job."""
        while True:
            body = self.http.post(self.graphql, json={"query": STATUS, "variables": {"id": job_id}})
            job = body.json()["data"]["job"]
            if job["status"] == "SUCCEEDED":
                return [output["image"]["width"] for output in job["outputs"]]
            if job["status"] in ("FAILED", "CANCELLED"):
                raise SystemExit(f"job {job_id} ended {job['status']}: {job['error']}")
            time.sleep(0.1)


def srcset_job(api: Api) -> None:
    widths = api.wait(api.submit(srcset={"widths": WIDTHS}))
    assert sorted(widths) == WIDTHS, widths


def separate_jobs(api: Api) -> None:
    ids = [api.submit(operations=[{"resize": {"width": width}}]) for width in WIDTHS]
    widths = [width for job_id in ids for width in api.wait(job_id)]
    assert widths == WIDTHS, widths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--pid", type=int, required=True, help="the worker (or serve) process")
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not args.image.exists():
        raise SystemExit(f"{args.image} is missing: pass --image")
    api = Api(args.url, args.image.read_bytes())
    srcset_job(api)  # warm-up: imports, connections, first-use allocations
    separate_jobs(api)
    figures: dict[str, list[float]] = {"srcset": [], "separate": []}
    kinds = [("srcset", srcset_job), ("separate", separate_jobs)]
    for number in range(args.rounds):
        for name, run in kinds if number % 2 == 0 else kinds[::-1]:
            before = cpu_seconds(args.pid)
            run(api)
            figures[name].append(cpu_seconds(args.pid) - before)
    srcset, separate = (statistics.median(figures[name]) for name in ("srcset", "separate"))
    report = [
        f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}",
        f"image: {args.image.name}, widths {WIDTHS}, {args.rounds} rounds, median CPU",
        f"one srcset job:   {srcset:.3f} s",
        f"5 separate jobs:  {separate:.3f} s",
        f"ratio srcset / separate: {srcset / separate:.2f}",
    ]
    print("\n".join(report))  # noqa: T201


if __name__ == "__main__":
    main()
