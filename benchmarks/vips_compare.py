"""The load test's mix through imgflow's Pillow pipeline and through libvips, in one
process, alternating, with the CPU per job and the output bytes of each.

libvips is not a dependency of imgflow: install `pyvips` and `pyvips-binary` in a
throwaway environment and put it on PYTHONPATH. The libvips side does each job the way
a libvips service would (shrink-on-load `thumbnail_buffer` for the resizes, `rot90`,
plain `write_to_buffer` for conversions) with imgflow's encoder settings: JPEG Q85
without optimisation, PNG zlib level 3 with adaptive filtering. Both sides run the jobs
on 2 threads (libvips told to use one thread per call, as Pillow does); the CPU per job
is the process's, over the run.

    PYTHONPATH=/path/to/site-packages python benchmarks/vips_compare.py [--jobs 100]
        [--rounds 3] [--jpeg F] [--png F] [--by-kind]

`--by-kind` adds the median CPU per job of each (operation, input), one thread, both sides.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("VIPS_CONCURRENCY", "1")
import pyvips  # type: ignore[import-not-found]
from raw_baseline import DEFAULT_JPEG, DEFAULT_PNG, Job, build_jobs, load_inputs

from imgflow.imaging.info import ImageLimits
from workers.pipeline import render

BOX = (800, 600)
PNG_ADAPTIVE = 0xF8  # VIPS_FOREIGN_PNG_FILTER_ALL: every filter tried per row, as zlib/PNG


def vips_save(image: pyvips.Image, fmt: str) -> bytes:
    if fmt == "JPEG":
        return bytes(image.write_to_buffer(".jpg", Q=85, optimize_coding=False, strip=True))
    return bytes(image.write_to_buffer(".png", compression=3, filter=PNG_ADAPTIVE, strip=True))


def vips_job(job: Job) -> bytes:
    spec = job.spec
    data, op = spec.image.data, next(iter(spec.operation))
    if op == "resize":
        image = pyvips.Image.thumbnail_buffer(data, BOX[0], height=BOX[1])
    elif op == "forceResize":
        image = pyvips.Image.thumbnail_buffer(data, BOX[0], height=BOX[1], size="force")
    else:
        image = pyvips.Image.new_from_buffer(data, "").autorot()
        if op == "rotate":
            image = image.rot270()  # 90 degrees counter-clockwise, as imgflow's rotate
    return vips_save(image, spec.expected_format)


def pillow_job(job: Job) -> bytes:
    return render(job.spec.image.data, job.operations, ImageLimits()).data


def timed(work: Callable[[Job], bytes], jobs: Sequence[Job]) -> tuple[float, float, int]:
    """(jobs/s, CPU ms per job, output bytes) of one run on 2 threads."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        started, cpu = time.perf_counter(), time.process_time()
        outputs = list(pool.map(work, jobs))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return len(jobs) / wall, cpu * 1000 / len(jobs), sum(map(len, outputs))


def by_kind(sides: Mapping[str, Callable[[Job], bytes]], jobs: Sequence[Job], rounds: int) -> None:
    """Median CPU ms of each distinct job on each side, alternating, on this one thread."""
    kinds = {job.label: job for job in jobs}
    samples: dict[tuple[str, str], list[float]] = {}
    for _ in range(max(rounds, 1)):
        for label, job in kinds.items():
            for name, work in sides.items():
                cpu = time.process_time()
                work(job)
                samples.setdefault((label, name), []).append((time.process_time() - cpu) * 1000)
    print(f"{'per kind, CPU ms':<22}{'Pillow':>8}{'libvips':>9}{'ratio':>7}")  # noqa: T201
    for label in kinds:
        pil, vips = (statistics.median(samples[(label, name)]) for name in sides)
        print(f"{label:<22}{pil:8.1f}{vips:9.1f}{vips / pil:7.2f}")  # noqa: T201


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jpeg", type=Path, default=DEFAULT_JPEG)
    parser.add_argument("--png", type=Path, default=DEFAULT_PNG)
    parser.add_argument("--by-kind", action="store_true", help="also CPU per (operation, input)")
    args = parser.parse_args(argv)
    jobs = build_jobs(args.jobs, load_inputs(args.jpeg, args.png))
    sides = {"imgflow (Pillow)": pillow_job, "libvips": vips_job}
    for work in sides.values():
        timed(work, jobs[:8])  # warm-up
    print(f"libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}")  # noqa: T201
    for number in range(1, args.rounds + 1):
        for name, work in sides.items():
            rate, cpu, size = timed(work, jobs)
            print(  # noqa: T201
                f"round {number} {name:<17} {rate:6.2f} jobs/s  CPU {cpu:6.1f} ms/job  "
                f"{size:,} bytes  (load {os.getloadavg()[0]:.2f})"
            )
    if args.by_kind:
        by_kind(sides, jobs, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
