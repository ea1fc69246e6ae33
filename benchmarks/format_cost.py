"""Cost per format: encode and decode milliseconds, bytes and SSIM on the bench images.

For each bench image and each format imgflow writes (and `AUTO`), the image is decoded
once by `workers.codec.decode`, then encoded by the worker's own encoder at the
format's default quality (`workers.codec.encode_chosen`, as a `convert` with no quality
does), T copies at once in a ThreadPoolExecutor of T threads (default 2, the service's
`image_threads`): each encode times itself, so the figure is the ms one job pays while
another runs beside it. The output is decoded the same way. Rounds (R, default 5) take
every format in turn, so a burst of load elsewhere on the machine hits all formats
alike rather than one. Prints the median ms of each, the output's bytes, SSIM against the
source (on a 1/4 downscale for speed, alpha flattened onto white) and both times as a
ratio to JPEG's measured in the same run, which is what survives a noisy machine.

Also times the decode of the shared corpus's HEIC files (HEIC cannot be written).

    python benchmarks/format_cost.py [--images a.jpg,b.png] [--repeats 5] [--threads 2]
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


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return (time.perf_counter() - start) * 1000


def side_by_side(
    pool: ThreadPoolExecutor, threads: int, work: Callable[[int], object]
) -> list[float]:
    """`threads` runs of `work` at once (each told its index), each one's ms."""
    return list(pool.map(lambda i: timed(lambda: work(i)), range(threads)))


def flattened(image: Image.Image) -> np.ndarray:
    small = image.reduce(4) if min(image.size) >= 64 else image
    if small.mode in ("RGBA", "LA"):
        white = Image.new("RGBA", small.size, (255, 255, 255, 255))
        small = Image.alpha_composite(white, small.convert("RGBA"))
    return np.asarray(small.convert("RGB"))


def measure(
    name: str, data: bytes, formats: list[OutputFormat], repeats: int, threads: int
) -> list[Row]:
    source = decode(data, LIMITS)
    # One copy per thread: Pillow keeps a save's settings on the image object itself.
    copies = [
        Frames(
            [f.copy() for f in source.frames],
            source.durations,
            source.loop,
            source.icc,
            Deadline(600),
        )
        for _ in range(threads)
    ]
    outputs = {fmt: encode_chosen(copies[0], Convert(fmt)) for fmt in formats}
    encodes: dict[OutputFormat, list[float]] = {fmt: [] for fmt in formats}
    decodes: dict[OutputFormat, list[float]] = {fmt: [] for fmt in formats}
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats):
            for fmt in formats:
                convert, out = Convert(fmt), outputs[fmt].data
                encodes[fmt] += side_by_side(
                    pool, threads, lambda i, c=convert: encode_chosen(copies[i], c)
                )
                decodes[fmt] += side_by_side(pool, threads, lambda _, o=out: decode(o, LIMITS))
    rows = []
    for fmt, out in outputs.items():
        back = decode(out.data, LIMITS).frames[0]
        ssim = structural_similarity(
            flattened(source.frames[0]), flattened(back), channel_axis=2, data_range=255
        )
        encode_ms, decode_ms = statistics.median(encodes[fmt]), statistics.median(decodes[fmt])
        rows.append(
            Row(name, fmt.value, out.format.value, encode_ms, decode_ms, len(out.data), float(ssim))
        )
    return rows


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
            with ThreadPoolExecutor(threads) as pool:
                runs = [
                    ms
                    for _ in range(repeats)
                    for ms in side_by_side(pool, threads, lambda _, d=data: decode(d, LIMITS))
                ]
            ms = statistics.median(runs)
            size = decode(data, LIMITS).size
            rows.append({"file": name, "size": f"{size[0]}x{size[1]}", "decode_ms": ms})
    return rows


def say(text: str) -> None:
    print(text, flush=True)  # noqa: T201


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", default=",".join(DEFAULT_IMAGES))
    parser.add_argument("--repeats", type=int, default=5)
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
        row
        for path in paths
        for row in measure(path.name, path.read_bytes(), formats, args.repeats, args.threads)
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
