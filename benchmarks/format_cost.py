"""Cost per format: encode and decode milliseconds, bytes and SSIM on the bench images.

For each bench image and each format imgflow writes (and `AUTO`), the image is decoded
once by `workers.codec.decode`, then encoded R times (default 4) by the worker's own
encoder at the format's default quality (`workers.codec.encode_chosen`, as a `convert`
with no quality does), R encodes at a time in a ThreadPoolExecutor of T threads
(default 2, the service's `image_threads`): each encode times itself, so the figure is
the ms one job pays while another runs beside it. The output is then decoded R times
the same way. Prints the median ms of each, the output's bytes, SSIM against the
source (on a 1/4 downscale for speed, alpha flattened onto white) and both times as a
ratio to JPEG's measured in the same run, which is what survives a noisy machine.

Also times the decode of the shared corpus's HEIC files (HEIC cannot be written).

    python benchmarks/format_cost.py [--images a.jpg,b.png] [--repeats 4] [--threads 2]
                                     [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity

from imgflow.imaging.formats import WRITABLE_FORMATS, OutputFormat
from imgflow.imaging.info import ImageLimits
from imgflow.imaging.leash import Deadline
from imgflow.imaging.operations import Convert
from workers.codec import Frames, decode, encode_chosen

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEFAULT_IMAGES = ["photo_1mp.jpg", "photo_2mp.png", "alpha_2mp.png", "photo_12mp.jpg"]
HEIC_FILES = ["heif-avif/samplefilehub_640x426.heif", "heif-avif/iphone_13_pro_max_12MP.HEIC"]
LIMITS = ImageLimits(job_time_limit_seconds=600)


@dataclass(frozen=True)
class Row:
    image: str
    format: str
    written: str
    encode_ms: float
    decode_ms: float
    bytes: int
    ssim: float
    encode_vs_jpeg: float = 0.0
    decode_vs_jpeg: float = 0.0


def timed_in_pool(work: Callable[[], object], repeats: int, threads: int) -> float:
    """Median ms of `repeats` runs of `work`, `threads` at a time."""

    def one() -> float:
        start = time.perf_counter()
        work()
        return (time.perf_counter() - start) * 1000

    with ThreadPoolExecutor(threads) as pool:
        return statistics.median(pool.map(lambda _: one(), range(repeats)))


def flattened(image: Image.Image) -> np.ndarray:
    small = image.reduce(4) if min(image.size) >= 64 else image
    if small.mode in ("RGBA", "LA"):
        white = Image.new("RGBA", small.size, (255, 255, 255, 255))
        small = Image.alpha_composite(white, small.convert("RGBA"))
    return np.asarray(small.convert("RGB"))


def measure(name: str, data: bytes, fmt: OutputFormat, repeats: int, threads: int) -> Row:
    source = decode(data, LIMITS)
    frames = Frames(source.frames, source.durations, source.loop, source.icc, Deadline(600))
    convert = Convert(fmt)
    out = encode_chosen(frames, convert)
    encode_ms = timed_in_pool(lambda: encode_chosen(frames, convert), repeats, threads)
    decode_ms = timed_in_pool(lambda: decode(out.data, LIMITS), repeats, threads)
    back = decode(out.data, LIMITS).frames[0]
    ssim = structural_similarity(
        flattened(source.frames[0]), flattened(back), channel_axis=2, data_range=255
    )
    return Row(name, fmt.value, out.format.value, encode_ms, decode_ms, len(out.data), float(ssim))


def with_ratios(rows: list[Row]) -> list[Row]:
    jpeg = {row.image: row for row in rows if row.format == "JPEG"}
    return [
        Row(
            **{
                **asdict(row),
                "encode_vs_jpeg": row.encode_ms / jpeg[row.image].encode_ms,
                "decode_vs_jpeg": row.decode_ms / jpeg[row.image].decode_ms,
            }
        )
        for row in rows
    ]


def heic_decodes(repeats: int, threads: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for name in HEIC_FILES:
        path = SHARED / "corpus" / name
        if path.is_file():
            data = path.read_bytes()
            ms = timed_in_pool(lambda data=data: decode(data, LIMITS), repeats, threads)
            size = decode(data, LIMITS).size
            rows.append({"file": name, "size": f"{size[0]}x{size[1]}", "decode_ms": ms})
    return rows


def say(text: str) -> None:
    print(text, flush=True)  # noqa: T201


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", default=",".join(DEFAULT_IMAGES))
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    names = [name.strip() for name in args.images.split(",") if name.strip()]
    paths = [Path(n) if "/" in n else SHARED / "bench-images" / n for n in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        say(f"missing bench images: {', '.join(missing)}")
        return 2
    formats = [OutputFormat(f.value) for f in WRITABLE_FORMATS] + [OutputFormat.AUTO]
    rows = [
        measure(path.name, path.read_bytes(), fmt, args.repeats, args.threads)
        for path in paths
        for fmt in formats
    ]
    rows = with_ratios(rows)
    heic = heic_decodes(args.repeats, args.threads)
    load = os.getloadavg()
    if args.json:
        say(json.dumps({"rows": [asdict(r) for r in rows], "heic": heic, "load": load}))
        return 0
    say(f"load average before the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    say("| image | format | encode ms | decode ms | encode / JPEG | decode / JPEG | bytes | SSIM |")
    say("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        fmt = r.format if r.format == r.written else f"{r.format} ({r.written})"
        say(
            f"| {r.image} | {fmt} | {r.encode_ms:.0f} | {r.decode_ms:.0f} | "
            f"{r.encode_vs_jpeg:.2f} | {r.decode_vs_jpeg:.2f} | {r.bytes:,} | {r.ssim:.3f} |"
        )
    for h in heic:
        say(f"HEIC decode {h['file']} ({h['size']}): {h['decode_ms']:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
