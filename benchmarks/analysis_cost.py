"""What `analyze: true` adds to a job's worker CPU time, measured in one run.

For each input, alternating R times: the decode a job does anyway (with the
shrink-on-load a `resize 800` job would get), the full-size decode an analysed job
does instead, and the analysis itself on that decode. Times are CPU seconds of this
thread (`time.thread_time`), medians over the repeats, printed with their ratios.

    python benchmarks/analysis_cost.py [--repeats 7] [FILE ...]

By default the input is ../shared/bench-images/photo_12mp.jpg.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from imgflow.imaging.info import ImageLimits
from imgflow.imaging.operations import Resize
from workers.analysis import analyze
from workers.codec import Decoded, decode
from workers.shrink import shrink_target

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "bench-images" / "photo_12mp.jpg"


def cpu(work: Callable[[], object]) -> float:
    started = time.thread_time()
    work()
    return time.thread_time() - started


def measure(data: bytes, repeats: int) -> dict[str, float]:
    limits = ImageLimits()
    shrunk = partial(shrink_target, [Resize(width=800)])
    full: list[Decoded] = []
    times: dict[str, list[float]] = {"decode (shrunk)": [], "decode (full)": [], "analysis": []}
    analyze(decode(data, limits), expose_gps=False)  # warm: imports, scipy's first call
    for _ in range(repeats):
        times["decode (shrunk)"].append(cpu(lambda: decode(data, limits, shrink=shrunk)))
        times["decode (full)"].append(cpu(lambda: full.append(decode(data, limits))))
        times["analysis"].append(cpu(lambda: analyze(full[-1], expose_gps=False)))
    return {name: statistics.median(values) for name, values in times.items()}


def say(text: str) -> None:
    print(text, flush=True)  # noqa: T201


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, default=[DEFAULT])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    for path in args.files:
        figures = measure(path.read_bytes(), args.repeats)
        shrunk, full, analysis = figures.values()
        say(path.name)
        for name, seconds in figures.items():
            say(f"  {name:16} {seconds * 1000:7.1f} ms")
        say(f"  analysis / full decode        {analysis / full:.2f}")
        say(f"  (full + analysis) / shrunk    {(full + analysis) / shrunk:.2f}")


if __name__ == "__main__":
    main()
