"""Raw baseline: the load test's job mix through `workers.pipeline.render` alone.

Bytes in memory -> decode -> operation -> encode -> bytes: no API, queue, storage or
network. The jobs are exactly `imgflow loadtest`'s (imported from the `loadtest` package:
`job_mix` round-robin over rotate 90, resize fit 800x600, force resize 800x600,
convert to the other of JPEG/PNG, alternating the JPEG and the PNG input), run N at a
time in a ThreadPoolExecutor with 1 and with 2 threads (the service's default
`image_threads`), repeated R times in alternation. Prints the median jobs/s per thread
count and the median ms per (operation, input); `--json` for machines.

Every distinct job is first run once untimed (warm-up) and its result checked with the
load test's own `check_result` (format and size), so both measure the same work.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgflow.imaging.info import ImageLimits
from imgflow.imaging.operations import Operation, operation_from_dict
from imgflow.imaging.registry import BY_GRAPHQL_NAME
from loadtest.images import InputImage, load_image
from loadtest.mix import JobSpec, job_mix
from loadtest.results import JobFailure
from loadtest.runner import check_result
from workers.codec import encoding
from workers.pipeline import render

REPO = Path(__file__).resolve().parents[1]
BENCH_IMAGES = REPO.parent / "shared" / "bench-images"
DEFAULT_JPEG = BENCH_IMAGES / "photo_1mp.jpg"
DEFAULT_PNG = BENCH_IMAGES / "photo_2mp.png"

# The load test speaks GraphQL (camelCase op names); the worker stores {"op": name}.
GRAPHQL_OPS = {member: cls.name for member, cls in BY_GRAPHQL_NAME.items()}


@dataclass(frozen=True)
class Job:
    spec: JobSpec
    operations: tuple[Operation, ...]

    @property
    def label(self) -> str:
        source, result = self.spec.image.format, self.spec.expected_format
        return f"{self.spec.queue} {source}" + ("" if result == source else f"->{result}")


@dataclass(frozen=True)
class Run:
    threads: int
    wall_s: float
    cpu_s: float  # the whole process's CPU (all threads) over the run
    job_ms: tuple[tuple[str, float], ...]  # (label, ms) per job
    output_bytes: int
    png_output_bytes: int

    @property
    def jobs_per_s(self) -> float:
        return len(self.job_ms) / self.wall_s

    @property
    def cpu_ms_per_job(self) -> float:
        return self.cpu_s * 1000 / len(self.job_ms)


def to_operation(graphql_op: Mapping[str, Any]) -> Operation:
    """`{"forceResize": {"width": 800, ...}}` -> `ForceResize(800, ...)`."""
    ((name, fields),) = graphql_op.items()
    return operation_from_dict({"op": GRAPHQL_OPS[name], **fields})


def load_inputs(jpeg: Path, png: Path) -> list[InputImage]:
    missing = [str(path) for path in (jpeg, png) if not path.is_file()]
    if missing:
        raise SystemExit(
            f"raw_baseline: input not found: {', '.join(missing)}\n"
            f"  the defaults are the shared bench images in {BENCH_IMAGES};"
            " pass --jpeg FILE and --png FILE"
        )
    try:
        return [
            load_image(str(jpeg), jpeg.read_bytes(), "JPEG"),
            load_image(str(png), png.read_bytes(), "PNG"),
        ]
    except ValueError as exc:
        raise SystemExit(f"raw_baseline: {exc}") from None


def build_jobs(count: int, images: Sequence[InputImage]) -> list[Job]:
    return [Job(spec, (to_operation(spec.operation),)) for spec in job_mix(count, images)]


def warm_up_and_check(jobs: Sequence[Job], limits: ImageLimits) -> None:
    """Each distinct job once, untimed; its result must be what the load test accepts."""
    seen: set[str] = set()
    for job in jobs:
        if job.label in seen:
            continue
        seen.add(job.label)
        try:
            check_result(job.spec, render(job.spec.image.data, job.operations, limits).data)
        except JobFailure as failure:
            raise SystemExit(f"raw_baseline: {job.label}: {failure}") from None


def run_once(jobs: Sequence[Job], threads: int, limits: ImageLimits) -> Run:
    def one(job: Job) -> tuple[str, float, bytes]:
        started = time.perf_counter()
        data = render(job.spec.image.data, job.operations, limits).data
        return job.label, (time.perf_counter() - started) * 1000, data

    with ThreadPoolExecutor(max_workers=threads) as pool:
        started, cpu_started = time.perf_counter(), time.process_time()
        results = list(pool.map(one, jobs))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    png_bytes = sum(
        len(data)
        for job, (_, _, data) in zip(jobs, results, strict=True)
        if job.spec.expected_format == "PNG"
    )
    return Run(
        threads=threads,
        wall_s=wall,
        cpu_s=cpu,
        job_ms=tuple((label, ms) for label, ms, _ in results),
        output_bytes=sum(len(data) for _, _, data in results),
        png_output_bytes=png_bytes,
    )


@contextmanager
def png_compress_level(level: int) -> Iterator[None]:
    """Temporarily change `encoding.encode`'s default zlib level (the function object's own
    default, so every caller sees it however it imported `encode`)."""
    defaults = encoding.encode.__kwdefaults__
    if defaults is None or "png_compress_level" not in defaults:
        raise SystemExit("raw_baseline: workers.codec.encoding.encode has no png_compress_level")
    committed = defaults["png_compress_level"]
    defaults["png_compress_level"] = level
    try:
        yield
    finally:
        defaults["png_compress_level"] = committed


def summarise(
    runs: Sequence[Run], images: Sequence[InputImage], repeats: int, level: int
) -> dict[str, Any]:
    by_threads: dict[int, list[Run]] = defaultdict(list)
    for run in runs:
        by_threads[run.threads].append(run)
    threads: dict[str, Any] = {}
    for count, group in sorted(by_threads.items()):
        samples: dict[str, list[float]] = defaultdict(list)
        for run in group:
            for label, ms in run.job_ms:
                samples[label].append(ms)
        threads[str(count)] = {
            "jobs_per_s": round(statistics.median(run.jobs_per_s for run in group), 3),
            "runs_jobs_per_s": [round(run.jobs_per_s, 3) for run in group],
            "cpu_ms_per_job": round(statistics.median(run.cpu_ms_per_job for run in group), 1),
            "op_median_ms": {
                label: round(statistics.median(values), 1) for label, values in samples.items()
            },
        }
    return {
        "inputs": [
            {
                "path": image.name,
                "format": image.format,
                "size": list(image.size),
                "bytes": len(image.data),
            }
            for image in images
        ],
        "jobs": len(runs[0].job_ms),
        "repeats": repeats,
        "png_compress_level": level,
        "jpeg_quality": encoding.JPEG_QUALITY,
        "cpus": os.cpu_count(),
        "threads": threads,
        "output_bytes": runs[0].output_bytes,
        "png_output_bytes": runs[0].png_output_bytes,
    }


def render_text(summary: Mapping[str, Any]) -> str:
    threads: Mapping[str, Any] = summary["threads"]
    inputs = ", ".join(
        f"{Path(i['path']).name} ({i['size'][0]}x{i['size'][1]})" for i in summary["inputs"]
    )
    lines = [
        f"raw baseline: workers.pipeline.render, {summary['jobs']} jobs x "
        f"{summary['repeats']} repeats, PNG zlib {summary['png_compress_level']}, "
        f"JPEG q{summary['jpeg_quality']}, {summary['cpus']} CPUs",
        f"inputs: {inputs}",
        f"load average before {summary['loadavg_before']}, after {summary['loadavg_after']}",
        "",
    ]
    for count, data in threads.items():
        runs = ", ".join(f"{value:.2f}" for value in data["runs_jobs_per_s"])
        lines.append(
            f"{count} thread(s): {data['jobs_per_s']:.2f} jobs/s median  ({runs}), "
            f"CPU {data['cpu_ms_per_job']:.1f} ms per job"
        )
    labels = next(iter(threads.values()))["op_median_ms"].keys()
    header = "".join(f"{f'{count} thr ms':>12}" for count in threads)
    lines += ["", f"{'median per job':<20}{header}"]
    for label in sorted(labels):
        cells = "".join(f"{data['op_median_ms'][label]:>12.1f}" for data in threads.values())
        lines.append(f"{label:<20}{cells}")
    lines += [
        "",
        f"output bytes per {summary['jobs']}-job run: {summary['output_bytes']:,} "
        f"(PNG outputs {summary['png_output_bytes']:,})",
    ]
    return "\n".join(lines)


def output(text: str) -> None:
    """The one place this script writes to the terminal."""
    print(text, flush=True)  # noqa: T201


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def thread_counts(text: str) -> list[int]:
    try:
        return [positive_int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of thread counts") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--jpeg", type=Path, default=DEFAULT_JPEG, help="JPEG input")
    parser.add_argument("--png", type=Path, default=DEFAULT_PNG, help="PNG input")
    parser.add_argument("--jobs", type=positive_int, default=100, help="jobs per run")
    parser.add_argument("--repeats", type=positive_int, default=3, help="runs per thread count")
    parser.add_argument(
        "--threads", type=thread_counts, default=[1, 2], help="thread counts (default: 1,2)"
    )
    parser.add_argument(
        "--png-compress-level",
        type=int,
        choices=range(10),
        default=None,
        metavar="0-9",
        help="override workers.codec's PNG zlib level for this run (default: the committed one)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON document")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    limits = ImageLimits()
    images = load_inputs(args.jpeg, args.png)
    jobs = build_jobs(args.jobs, images)
    committed = (encoding.encode.__kwdefaults__ or {}).get("png_compress_level")
    level = committed if args.png_compress_level is None else args.png_compress_level
    loadavg_before = [round(value, 2) for value in os.getloadavg()]
    runs: list[Run] = []
    with png_compress_level(level):
        warm_up_and_check(jobs, limits)
        for _ in range(args.repeats):  # alternate thread counts so noise hits all alike
            runs += [run_once(jobs, threads, limits) for threads in args.threads]
    summary = summarise(runs, images, args.repeats, level)
    summary["loadavg_before"] = loadavg_before
    summary["loadavg_after"] = [round(value, 2) for value in os.getloadavg()]
    output(json.dumps(summary, indent=2) if args.json else render_text(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
