"""One job's image work: the source decoded once, the prefix run once, then each output's
own steps and encode, each output handed over as soon as it is encoded."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from typing import Any

from PIL import Image

from imgflow.imaging.analysis import Analysis
from imgflow.imaging.info import ImageInfo, ImageLimits
from imgflow.imaging.leash import Deadline
from imgflow.imaging.operations import Operation
from imgflow.imaging.ops.metadata import kept_metadata
from imgflow.imaging.outputs import DEFAULT_OUTPUT, Output
from imgflow.imaging.planning import check_outputs, kept_frames, output_target
from workers import transforms
from workers.analysis import analyze
from workers.codec import Frames, Header, decode, encode_chosen, frame_count
from workers.ladder import Ladder, first_fit, largest_first
from workers.shrink import job_shrink_target, pinned, pixel_steps, shrink_target

__all__ = [
    "AnalysisRequest",
    "Rendered",
    "render",
    "render_in",
    "render_outputs",
    "render_outputs_in",
    "shrink_target",
]

Emit = Callable[["Rendered | Analysis"], None]


@dataclass(frozen=True)
class Rendered:
    """One encoded output and what clients are told about it."""

    data: bytes
    info: ImageInfo
    name: str = DEFAULT_OUTPUT


@dataclass(frozen=True)
class AnalysisRequest:
    """`analyze: true` on a job, and what its analysis may show."""

    expose_gps: bool


def render(
    data: bytes,
    operations: Sequence[Operation],
    limits: ImageLimits,
    deadline: Deadline | None = None,
    sources: Mapping[str, bytes] | None = None,
) -> Rendered:
    """Decode `data`, apply `operations` to every frame in order, encode the result.

    The output format is the last `Convert`'s, else the source's. Raises `ImgflowError`
    for a bad source, a crop outside the image, a result over `limits`, or work still
    going at `deadline` (by default `limits.job_time_limit_seconds` from now).
    `sources`: the encoded pictures the steps' `sources()` name (an overlay's image).
    """
    rendered: list[Rendered] = []

    def keep(item: Rendered | Analysis) -> None:
        if isinstance(item, Rendered):
            rendered.append(item)

    one = [Output(DEFAULT_OUTPUT, tuple(operations))]
    render_outputs(data, (), one, limits, keep, deadline, sources=sources)
    return rendered[0]


def render_outputs(
    data: bytes,
    prefix: Sequence[Operation],
    outputs: Sequence[Output],
    limits: ImageLimits,
    emit: Emit,
    deadline: Deadline | None = None,
    analysis: AnalysisRequest | None = None,
    sources: Mapping[str, bytes] | None = None,
) -> None:
    """Decode `data` once, run `prefix` once, then for each output its own steps from the
    prefix's frames and its encode, calling `emit` with each output as it is encoded.

    The whole job is planned from the decoder's headers first (every output, and all
    of them together, against `limits`); a JPEG is shrunk on load for the largest
    output that scales down. Still outputs that start with a fit-inside resize are made
    largest first, each from the smallest already made that covers it (workers.ladder),
    so `emit` may see them out of the job's order. One `deadline` covers the whole job.
    With `analysis`, the decoded source's `Analysis` is emitted first, before any output
    is made; the JPEG is then decoded at full size, since the perceptual hash is the
    source's own. `sources`: the encoded pictures the steps' `sources()` name (an
    overlay's image).
    """
    deadline = deadline or Deadline(limits.job_time_limit_seconds)
    own_steps = [pixel_steps(output.operations) for output in outputs]
    before = pixel_steps(prefix)
    decoded = decode(
        data,
        limits,
        shrink=None if analysis else partial(job_shrink_target, before, own_steps),
        plan=partial(_check_header, prefix, outputs, limits),
        deadline=deadline,
    )
    if analysis is not None:
        deadline.check("analysis")
        emit(analyze(decoded, expose_gps=analysis.expose_gps))
    if not outputs:
        return
    if sources:
        pictures = {key: decode(value, limits).frames[0] for key, value in sources.items()}
        before = [step.with_sources(pictures) for step in before]
        own_steps = [[step.with_sources(pictures) for step in steps] for steps in own_steps]
    targets = [output_target([*prefix, *o.operations], decoded.format) for o in outputs]
    kept = [kept_frames(decoded.format, len(decoded.frames), t.format) for t in targets]
    frames = decoded.frames[: max(kept, default=1)]
    loaded = frames[0].size
    base = _apply_all(frames, pinned(before, decoded.size, loaded), deadline)
    if not before:
        own_steps = [pinned(steps, decoded.size, loaded) for steps in own_steps]
    ladder = Ladder(base[0])
    for index in largest_first(base[0].size, own_steps):
        steps, target, count = own_steps[index], targets[index], kept[index]
        fit = first_fit(steps) if count == 1 else None
        if fit is not None:
            deadline.check(fit.name)
            results = _apply_all([ladder.fit(fit)], steps[1:], deadline)
        else:
            results = _apply_all(base[:count], steps, deadline)
        deadline.check("encoding")
        keep = kept_metadata([*prefix, *outputs[index].operations])
        frames_of = Frames(
            results, decoded.durations, decoded.loop, decoded.icc, deadline, decoded.metadata, keep
        )
        out = encode_chosen(frames_of, target)
        written = frame_count(out.data) if len(results) > 1 else 1
        width, height = results[0].size
        info = ImageInfo(out.format, width, height, written, len(out.data))
        emit(Rendered(out.data, info, outputs[index].name))


async def render_in(
    pool: Executor,
    data: bytes,
    operations: Sequence[Operation],
    limits: ImageLimits,
    sources: Mapping[str, bytes] | None = None,
) -> Rendered:
    """`render` on a pool thread, given up on once the job's time limit has passed
    (see `render_outputs_in`)."""
    rendered: list[Rendered] = []

    async def keep(item: Rendered | Analysis) -> None:
        if isinstance(item, Rendered):
            rendered.append(item)

    one = [Output(DEFAULT_OUTPUT, tuple(operations))]
    await render_outputs_in(pool, data, (), one, limits, keep, sources=sources)
    return rendered[0]


async def render_outputs_in(
    pool: Executor,
    data: bytes,
    prefix: Sequence[Operation],
    outputs: Sequence[Output],
    limits: ImageLimits,
    store: Callable[[Rendered | Analysis], Awaitable[None]],
    analysis: AnalysisRequest | None = None,
    sources: Mapping[str, bytes] | None = None,
) -> None:
    """`render_outputs` on a pool thread, `store` awaited here with each output (and
    first the analysis, when asked for) as the thread goes on with the next, the whole
    given up on once the job's time limit has passed.

    The clock starts when a thread picks the job up: time queued behind other jobs is
    not this job's. The thread checks the same deadline between steps and stops there
    by itself; this side stops waiting at the deadline even when one step is still
    running (a thread cannot be killed), so the job fails on time and the worker's slot
    is free for the next one. The abandoned step ends within the bound the pixel
    limits put on one step, then the thread stops at its next check."""
    loop = asyncio.get_running_loop()
    started: asyncio.Future[Deadline] = loop.create_future()
    finished: asyncio.Queue[Rendered | Analysis] = asyncio.Queue()

    def run() -> None:
        deadline = Deadline(limits.job_time_limit_seconds)
        loop.call_soon_threadsafe(_resolve, started, deadline)

        def emit(item: Rendered | Analysis) -> None:
            loop.call_soon_threadsafe(finished.put_nowait, item)

        render_outputs(data, prefix, outputs, limits, emit, deadline, analysis, sources)

    work = loop.run_in_executor(pool, run)
    try:
        either: set[asyncio.Future[Any]] = {work, started}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if not started.done():  # the pool never ran it (shut down): its error says why
            await work
            return
        deadline = started.result()
        for _ in range(len(outputs) + (analysis is not None)):
            await store(await _next(finished, work, deadline))
        await _within(work, deadline)
    finally:
        # Still queued: dropped. Still running: its late result or error is discarded.
        work.cancel()
        started.cancel()


async def _next(
    finished: asyncio.Queue[Rendered | Analysis], work: asyncio.Future[None], deadline: Deadline
) -> Rendered | Analysis:
    """The next output the thread hands over; the thread's error if it ended without
    one, TIME_LIMIT_EXCEEDED at the deadline."""
    getting = asyncio.ensure_future(finished.get())
    either: set[asyncio.Future[Any]] = {getting, work}
    try:
        done, _ = await asyncio.wait(
            either,
            timeout=max(deadline.remaining(), 0.0),
            return_when=asyncio.FIRST_COMPLETED,
        )
    finally:
        if not getting.done():
            getting.cancel()
    # The thread's hand-over is scheduled before its end, so an output it gave is here.
    if getting in done:
        return getting.result()
    if work in done:
        work.result()  # raises the thread's error
        raise RuntimeError("the render ended before handing over every output")
    raise deadline.exceeded("given up while a step was still running")


async def _within(future: asyncio.Future[Any], deadline: Deadline) -> Any:
    try:
        return await asyncio.wait_for(asyncio.shield(future), deadline.remaining())
    except TimeoutError:
        raise deadline.exceeded("given up while a step was still running") from None


def _resolve(started: asyncio.Future[Deadline], deadline: Deadline) -> None:
    if not started.done():
        started.set_result(deadline)


def _check_header(
    prefix: Sequence[Operation], outputs: Sequence[Output], limits: ImageLimits, header: Header
) -> None:
    check_outputs(header.sizes, header.format, prefix, outputs, limits)


def _apply_all(
    frames: Sequence[Image.Image], steps: Sequence[Operation], deadline: Deadline
) -> list[Image.Image]:
    """Each step on every frame in turn; a step's picture-dependent choices (a smart
    crop's window, a trim's box) are settled on the first frame, so an animation's
    frames stay aligned."""
    results = list(frames)
    for step in steps:
        deadline.check(step.name)
        settled = step.settle(results[0])
        results = [transforms.apply(frame, settled) for frame in results]
    return results
