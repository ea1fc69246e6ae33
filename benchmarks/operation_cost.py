"""Per-operation cost: each registered operation's pixel step alone, on the bench images.

Every image is decoded once (upright, as the worker does); each operation example
then runs `--runs` times on it in a ThreadPoolExecutor of `--threads` threads (2, the
service's default `image_threads`), all at once. The figure is the CPU time of one
call as the pool sees it: wall time x threads / runs, in ms, the median of `--repeats`
rounds. Decode and encode are left out (raw_baseline.py measures whole jobs); the
first call of each (example, image) runs untimed, so imports and font or cascade
loading are not counted.

    python benchmarks/operation_cost.py [--images a.jpg,b.png] [--runs 8] [--repeats 3]
                                        [--threads 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image

from imgflow.imaging.info import ImageLimits
from imgflow.imaging.registry import BY_NAME, step_from_dict
from imgflow.imaging.step import Step
from workers.codec import decode

REPO = Path(__file__).resolve().parents[1]
BENCH_IMAGES = REPO.parent / "shared" / "bench-images"
DEFAULT_IMAGES = ("photo_1mp.jpg", "photo_2mp.png", "photo_12mp.jpg")
LOGO = "logo"

EXAMPLES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("rotate 90", {"op": "rotate", "degrees": 90}),
    ("rotate 30", {"op": "rotate", "degrees": 30}),
    ("resize 800", {"op": "resize", "width": 800}),
    ("force_resize 800x600", {"op": "force_resize", "width": 800, "height": 600}),
    ("crop 400x300", {"op": "crop", "left": 100, "top": 100, "width": 400, "height": 300}),
    ("flip", {"op": "flip", "direction": "HORIZONTAL"}),
    ("grayscale", {"op": "grayscale"}),
    ("blur 2", {"op": "blur", "radius": 2}),
    ("sharpen", {"op": "sharpen"}),
    ("fill 400x400 CENTER", {"op": "fill", "width": 400, "height": 400}),
    ("fill 400x400 ATTENTION", {"op": "fill", "width": 400, "height": 400, "gravity": "ATTENTION"}),
    ("fill 400x400 ENTROPY", {"op": "fill", "width": 400, "height": 400, "gravity": "ENTROPY"}),
    ("fill 400x400 FACES", {"op": "fill", "width": 400, "height": 400, "gravity": "FACES"}),
    ("pad 800x800", {"op": "pad", "width": 800, "height": 800}),
    ("trim", {"op": "trim"}),
    (
        "adjust",
        {"op": "adjust", "brightness": 1.1, "contrast": 1.2, "saturation": 1.3, "gamma": 1.4},
    ),
    ("overlay 200x100", {"op": "overlay", "image": LOGO}),
    ("text 32 px", {"op": "text", "text": "© imgflow 2026", "size": 32}),
    ("convert", {"op": "convert", "format": "WEBP"}),
    ("metadata", {"op": "metadata", "keep": "ALL"}),
)


def upright(path: Path) -> Image.Image:
    return decode(path.read_bytes(), ImageLimits()).frames[0]


def example_steps() -> list[tuple[str, Step]]:
    logo = Image.new("RGBA", (200, 100), (220, 30, 30, 200))
    steps = []
    for label, data in EXAMPLES:
        step = step_from_dict(data).with_sources({LOGO: logo}) if data["op"] == "overlay" else None
        steps.append((label, step or step_from_dict(data)))
    missing = set(BY_NAME) - {data["op"] for _, data in EXAMPLES}
    if missing:
        raise SystemExit(f"no example for {sorted(missing)}: add one to EXAMPLES")
    return steps


def cost_ms(step: Step, frame: Image.Image, runs: int, threads: int) -> float:
    def once(_: int) -> None:
        step.settle(frame).apply(frame)

    with ThreadPoolExecutor(threads) as pool:
        once(0)  # untimed: imports, caches
        started = time.perf_counter()
        list(pool.map(once, range(runs)))
        wall = time.perf_counter() - started
    return wall * threads / runs * 1000


def measure(images: Sequence[Path], runs: int, repeats: int, threads: int) -> dict[str, Any]:
    frames = {path.name: upright(path) for path in images}
    table: dict[str, dict[str, float]] = {}
    for label, step in example_steps():
        table[label] = {
            name: round(
                statistics.median(cost_ms(step, frame, runs, threads) for _ in range(repeats)), 1
            )
            for name, frame in frames.items()
        }
    sizes = {name: f"{frame.width}x{frame.height}" for name, frame in frames.items()}
    return {
        "threads": threads,
        "runs": runs,
        "repeats": repeats,
        "loadavg": os.getloadavg(),
        "images": sizes,
        "ms": table,
    }


def markdown(result: dict[str, Any]) -> str:
    names = list(result["images"])
    head = " | ".join(f"{name} ({result['images'][name]})" for name in names)
    lines = [f"| operation | {head} |", "| --- |" + " ---: |" * len(names)]
    for label, row in result["ms"].items():
        lines.append(f"| {label} | " + " | ".join(f"{row[name]}" for name in names) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=",".join(DEFAULT_IMAGES))
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    paths = [Path(p) if "/" in p else BENCH_IMAGES / p for p in args.images.split(",")]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(f"missing bench images: {', '.join(missing)}")
    result = measure(paths, args.runs, args.repeats, args.threads)
    text = json.dumps(result, indent=2) if args.json else markdown(result)
    sys.stdout.write(text + "\n")
    sys.stdout.write(f"load average before: {result['loadavg']}\n")


if __name__ == "__main__":
    main()
