"""Resize-only against thumbor, end to end: the same JPEG fitted into 800x600 by a running
imgflow (upload, `jobUpdated`, download) and by a running thumbor (one GET per image,
`/unsafe/fit-in/800x600/<name>` with its file loader), each at the same concurrency,
one after the other; the servers' CPU per image from /proc, and the PSNR of each
output against a full-decode LANCZOS resize of the source.

thumbor is not a dependency of imgflow: run it from a throwaway environment
(`pip install thumbor`) with `LOADER = 'thumbor.loaders.file_loader'`,
`FILE_LOADER_ROOT_PATH` = the image's directory, `ALLOW_UNSAFE_URL = True`, `QUALITY = 85`.

    python benchmarks/thumbor_compare.py --imgflow URL --pid serve=PID
        --thumbor URL --thumbor-pid PID [--thumbor-pid PID] [--image F] [--jobs 100]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import time
from pathlib import Path

import httpx
import numpy as np
from overhead import role_pid
from PIL import Image
from proc_cpu import loadavg, sample
from raw_baseline import BENCH_IMAGES

from loadtest.api import Api
from loadtest.images import InputImage, load_image
from loadtest.mix import job_for
from loadtest.runner import run_job

BOX = (800, 600)


def psnr(reference: Image.Image, data: bytes) -> float:
    with Image.open(io.BytesIO(data)) as image:
        found = np.asarray(image.convert("RGB"), dtype=np.float64)
    expected = np.asarray(reference, dtype=np.float64)
    if found.shape != expected.shape:
        return float("nan")
    return float(10 * np.log10(255**2 / max(((found - expected) ** 2).mean(), 1e-12)))


async def imgflow_run(url: str, image: InputImage, jobs: int, concurrency: int) -> bytes:
    spec = job_for("RESIZE", image)
    async with httpx.AsyncClient(timeout=300) as http:
        api = Api(url.rstrip("/"), http)
        await api.sign_in(None, None)
        watchers = [api.watcher() for _ in range(concurrency)]
        pending = iter(range(jobs))

        async def worker(index: int) -> None:
            for _ in pending:
                await run_job(api, watchers[index], spec)

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        for watcher in watchers:
            await watcher.close()
        job = await api.submit(spec)
        event, _ = await watchers[0].terminal_event(str(job["id"]))
        data = await api.download(str(event["result"]["url"]))
        await watchers[0].close()
        return data


async def thumbor_run(url: str, path: Path, jobs: int, concurrency: int) -> bytes:
    target = f"{url.rstrip('/')}/unsafe/fit-in/{BOX[0]}x{BOX[1]}/{path.name}"
    async with httpx.AsyncClient(timeout=300) as http:
        pending = iter(range(jobs))

        async def worker() -> None:
            for _ in pending:
                (await http.get(target)).raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return (await http.get(target)).content


def timed(name: str, pids: list[int], jobs: int, work: object) -> bytes:
    before = [sample(pid).total_s for pid in pids]
    started = time.perf_counter()
    data: bytes = asyncio.run(work)  # type: ignore[arg-type]
    wall = time.perf_counter() - started
    cpu = sum(sample(pid).total_s - b for pid, b in zip(pids, before, strict=True))
    print(  # noqa: T201
        f"{name:<8} {jobs / wall:6.2f} images/s  server CPU {cpu * 1000 / (jobs + 1):6.1f} ms "
        f"per image  (load {loadavg()})"
    )
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--imgflow", required=True)
    parser.add_argument("--pid", type=role_pid, action="append", required=True)
    parser.add_argument("--thumbor", required=True)
    parser.add_argument("--thumbor-pid", type=int, action="append", required=True)
    parser.add_argument("--image", type=Path, default=BENCH_IMAGES / "photo_12mp.jpg")
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    with Image.open(args.image) as source:
        source.load()
        full = source.convert("RGB")
    full.thumbnail(BOX, Image.Resampling.LANCZOS, reducing_gap=None)
    imgflow_pids = [pid for _, pid in args.pid]
    source_image = load_image(str(args.image), args.image.read_bytes(), "JPEG")
    for _ in range(args.rounds):
        work = imgflow_run(args.imgflow, source_image, args.jobs, args.concurrency)
        ours = timed("imgflow", imgflow_pids, args.jobs, work)
        work = thumbor_run(args.thumbor, args.image, args.jobs, args.concurrency)
        theirs = timed("thumbor", args.thumbor_pid, args.jobs, work)
    print(  # noqa: T201
        f"PSNR against a full-decode LANCZOS resize: imgflow {psnr(full, ours):.1f} dB "
        f"({len(ours):,} bytes), thumbor {psnr(full, theirs):.1f} dB ({len(theirs):,} bytes)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
