"""`imgflow loadtest`: the reference system's load test, through the public API only.

N single-operation jobs, an equal mix over the four queues (rotate 90, resize fit
800x600, force resize 800x600, convert to the other of JPEG/PNG), round-robin over
(operation x input image), at most C jobs in flight. Each job is uploaded with the
GraphQL multipart `submitImage`, awaited through the `jobUpdated` subscription
(graphql-transport-ws), then its result is downloaded and its format and size checked.
A job succeeds only if all of that holds.

Latency is submit start -> terminal event received; the download is timed apart.
Percentiles interpolate linearly between closest ranks (numpy's default). Latency
figures cover successful jobs; throughput counts successful jobs over the wall time
from the first submit to the last job's end.

Default inputs are synthetic images made in memory (deterministic). The README's
figures use the bench images, passed explicitly:
`--jpeg ../shared/bench-images/photo_1mp.jpg --png ../shared/bench-images/photo_2mp.png`.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import random
import secrets
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx
from PIL import Image, ImageDraw, ImageFilter
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

QUEUES = ("ROTATE", "RESIZE", "FORCE_RESIZE", "CONVERT")
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
BOX = (800, 600)
PERCENTILES = (50, 75, 90, 95, 99)

SUBMIT = """
mutation Submit($file: Upload!, $operations: [OperationInput!]!) {
  submitImage(file: $file, operations: $operations) { id status queue }
}
"""
WATCH = """
subscription Watch($id: ID!) {
  jobUpdated(id: $id) { status queue result { url format width height } error { code message } }
}
"""
REGISTER = """
mutation($e: String!, $p: String!) { register(email: $e, password: $p) { token } }
"""
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"

Size = tuple[int, int]


def output(text: str, *, stream: TextIO | None = None, end: str = "\n") -> None:
    """The one place this CLI writes to the terminal."""
    print(text, file=stream or sys.stdout, end=end, flush=True)


# --- inputs and the job mix ------------------------------------------------------


@dataclass(frozen=True)
class InputImage:
    name: str
    data: bytes
    format: str  # JPEG or PNG, as Pillow reads it
    size: Size  # upright, as the service reports it

    @property
    def other_format(self) -> str:
        return "PNG" if self.format == "JPEG" else "JPEG"


@dataclass(frozen=True)
class JobSpec:
    queue: str
    operation: dict[str, Any]
    image: InputImage
    expected_format: str
    expected_size: Size


def fitted(size: Size, box: Size) -> Size:
    """Fit inside `box` keeping the aspect: the service's rule, recomputed independently."""
    width, height = size
    box_w, box_h = box
    if box_h * width < box_w * height:  # integer cross-multiplication: no float ties
        return max(1, round(width * box_h / height)), box_h
    return box_w, max(1, round(height * box_w / width))


def job_for(queue: str, image: InputImage) -> JobSpec:
    width, height = image.size
    op: dict[str, Any]
    if queue == "ROTATE":
        return JobSpec(queue, {"rotate": {"degrees": 90}}, image, image.format, (height, width))
    if queue == "RESIZE":
        op = {"resize": {"width": BOX[0], "height": BOX[1]}}
        return JobSpec(queue, op, image, image.format, fitted(image.size, BOX))
    if queue == "FORCE_RESIZE":
        op = {"forceResize": {"width": BOX[0], "height": BOX[1]}}
        return JobSpec(queue, op, image, image.format, BOX)
    op = {"convert": {"format": image.other_format}}
    return JobSpec(queue, op, image, image.other_format, image.size)


def job_mix(count: int, images: Sequence[InputImage]) -> list[JobSpec]:
    """Round-robin over (operation x input): every queue gets every input in turn."""
    specs = []
    for index in range(count):
        image = images[(index // len(QUEUES)) % len(images)]
        specs.append(job_for(QUEUES[index % len(QUEUES)], image))
    return specs


def load_image(name: str, data: bytes, expected: str) -> InputImage:
    with Image.open(io.BytesIO(data)) as image:
        fmt, size = str(image.format), image.size
        orientation = image.getexif().get(0x0112, 1)
    # The mix converts each input to "the other" format: a PNG given as --jpeg would
    # silently turn the JPEG half of the mix into a second PNG half.
    if fmt != expected:
        raise ValueError(f"{name}: expected a {expected}, found {fmt}")
    # The service turns images upright first; orientations 5-8 swap the sides.
    upright = (size[1], size[0]) if orientation in (5, 6, 7, 8) else size
    return InputImage(name, data, fmt, upright)


def synthetic_photo(size: Size, seed: int) -> Image.Image:
    """Photo-like pixels: smooth gradients, soft shapes and grain, so encoders work as
    they do on photographs (flat colours would compress unrealistically well)."""
    rng = random.Random(seed)
    width, height = size
    red = Image.linear_gradient("L").resize(size)
    green = Image.radial_gradient("L").resize(size)
    blue = Image.linear_gradient("L").rotate(90).resize(size)
    image = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(image)
    for _ in range(24):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = rng.randrange(20, max(21, width // 5))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(6))
    grain = Image.frombytes("L", size, rng.randbytes(width * height)).convert("RGB")
    return Image.blend(image, grain.filter(ImageFilter.GaussianBlur(0.7)), 0.12)


def default_images() -> dict[str, InputImage]:
    jpeg, png = io.BytesIO(), io.BytesIO()
    synthetic_photo((1224, 817), seed=1).save(jpeg, "JPEG", quality=90)
    synthetic_photo((1448, 1448), seed=2).save(png, "PNG")
    return {
        "jpeg": load_image("synthetic 1224x817 JPEG", jpeg.getvalue(), "JPEG"),
        "png": load_image("synthetic 1448x1448 PNG", png.getvalue(), "PNG"),
    }


def choose_images(args: argparse.Namespace) -> list[InputImage]:
    defaults: dict[str, InputImage] | None = None
    chosen = []
    for kind in args.inputs:
        path: Path | None = getattr(args, kind)
        if path is not None:
            chosen.append(load_image(str(path), path.read_bytes(), kind.upper()))
            continue
        defaults = defaults or default_images()
        chosen.append(defaults[kind])
    return chosen


# --- one job through the public API ----------------------------------------------


class JobFailure(Exception):
    """A job that did not succeed: a stable code (for grouping) and a reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass
class JobResult:
    queue: str
    ok: bool
    latency_s: float | None = None
    download_s: float | None = None
    code: str | None = None
    reason: str | None = None


def graphql_data(response: httpx.Response, field_name: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise JobFailure(f"HTTP_{response.status_code}", response.text[:200]) from None
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        raise JobFailure(error_code(errors[0]), str(errors[0].get("message")))
    if response.status_code != 200 or not body.get("data"):
        raise JobFailure(f"HTTP_{response.status_code}", response.text[:200])
    return dict(body["data"][field_name])


def error_code(error: dict[str, Any]) -> str:
    return str((error.get("extensions") or {}).get("code") or "GRAPHQL_ERROR")


@dataclass
class Api:
    """The public API as a client sees it: GraphQL over HTTP, subscriptions over WS."""

    base_url: str
    http: httpx.AsyncClient
    token: str = ""

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/graphql"

    async def sign_in(self, email: str | None, password: str | None) -> None:
        if email is None:
            # A fresh user per run: no setup, and runs never see each other's jobs.
            email = f"loadtest-{uuid.uuid4().hex[:12]}@example.com"
            query, name, password = REGISTER, "register", secrets.token_urlsafe(16)
        else:
            query, name = LOGIN, "login"
        variables = {"e": email, "p": password}
        response = await self.http.post(
            self.graphql_url, json={"query": query, "variables": variables}
        )
        self.token = str(graphql_data(response, name)["token"])

    async def submit(self, spec: JobSpec) -> dict[str, Any]:
        payload = {"query": SUBMIT, "variables": {"file": None, "operations": [spec.operation]}}
        suffix = "jpg" if spec.image.format == "JPEG" else "png"
        content_type = f"image/{spec.image.format.lower()}"
        response = await self.http.post(
            self.graphql_url,
            data={"operations": json.dumps(payload), "map": '{"0": ["variables.file"]}'},
            files={"0": (f"input.{suffix}", spec.image.data, content_type)},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        return graphql_data(response, "submitImage")

    async def terminal_event(self, job_id: str) -> tuple[dict[str, Any], float]:
        """The job's terminal state and when it arrived (monotonic clock)."""
        ws_url = self.graphql_url.replace("http", "ws", 1)
        protocols = [Subprotocol("graphql-transport-ws")]
        # No separate handshake timeout: the per-job timeout bounds the whole wait.
        async with connect(ws_url, subprotocols=protocols, open_timeout=None) as ws:
            await self._init(ws)
            request = {"query": WATCH, "variables": {"id": job_id}}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": request}))
            return await self._await_terminal(ws)

    async def _init(self, ws: ClientConnection) -> None:
        auth = {"Authorization": f"Bearer {self.token}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": auth}))
        ack = json.loads(await ws.recv())
        if ack.get("type") != "connection_ack":
            raise JobFailure("WS_INIT", json.dumps(ack)[:200])

    async def _await_terminal(self, ws: ClientConnection) -> tuple[dict[str, Any], float]:
        terminal: tuple[dict[str, Any], float] | None = None
        # Read on to the server's `complete` after the terminal event, so the
        # subscription ends the way the server ends it rather than by a dropped socket.
        async for raw in ws:
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif kind == "next":
                event = subscription_event(message["payload"])
                if event["status"] in TERMINAL and terminal is None:
                    terminal = (event, time.monotonic())
            elif kind == "error":
                errors = message.get("payload") or [{}]
                raise JobFailure(error_code(errors[0]), str(errors[0].get("message")))
            elif kind == "complete":
                break
        if terminal is None:
            raise JobFailure("NO_TERMINAL_EVENT", "subscription ended before a terminal state")
        return terminal

    async def download(self, url: str) -> bytes:
        response = await self.http.get(url)
        if response.status_code != 200:
            raise JobFailure(f"DOWNLOAD_HTTP_{response.status_code}", url)
        return response.content


def subscription_event(payload: dict[str, Any]) -> dict[str, Any]:
    if payload.get("errors"):
        error = payload["errors"][0]
        raise JobFailure(error_code(error), str(error.get("message")))
    return dict(payload["data"]["jobUpdated"])


def check_result(spec: JobSpec, data: bytes) -> None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            found_format, found_size = str(image.format), image.size
    except (OSError, ValueError) as exc:
        raise JobFailure("UNREADABLE_RESULT", str(exc)) from None
    if found_format != spec.expected_format:
        raise JobFailure("WRONG_FORMAT", f"{found_format}, expected {spec.expected_format}")
    if found_size != spec.expected_size:
        raise JobFailure("WRONG_SIZE", f"{found_size}, expected {spec.expected_size}")


async def run_job(api: Api, spec: JobSpec) -> JobResult:
    started = time.monotonic()
    job = await api.submit(spec)
    if job["queue"] != spec.queue:
        raise JobFailure("WRONG_QUEUE", f"{job['queue']}, expected {spec.queue}")
    event, finished = await api.terminal_event(str(job["id"]))
    if event["status"] != "SUCCEEDED":
        error = event.get("error") or {}
        raise JobFailure(str(error.get("code") or event["status"]), str(error.get("message")))
    fetch_started = time.monotonic()
    check_result(spec, await api.download(str(event["result"]["url"])))
    return JobResult(spec.queue, True, finished - started, time.monotonic() - fetch_started)


async def guarded_job(api: Api, spec: JobSpec, job_seconds: float) -> JobResult:
    try:
        async with asyncio.timeout(job_seconds):
            return await run_job(api, spec)
    except JobFailure as failure:
        return JobResult(spec.queue, False, code=failure.code, reason=failure.reason)
    except TimeoutError:
        return JobResult(
            spec.queue, False, code="TIMEOUT", reason=f"no result in {job_seconds:g} s"
        )
    except Exception as exc:  # any other error fails this job only; the run goes on
        return JobResult(spec.queue, False, code=type(exc).__name__, reason=str(exc)[:200])


# --- progress ---------------------------------------------------------------------


@dataclass
class Progress:
    """A `\\r` bar on a terminal; elsewhere (CI logs, pipes) a line every 10%."""

    total: int
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    done: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)

    def update(self, result: JobResult) -> None:
        self.done += 1
        self.failed += 0 if result.ok else 1
        if self.stream.isatty():
            output(f"\r{self.line()}", stream=self.stream, end="")
            if self.done == self.total:
                output("", stream=self.stream)
        elif self.done == self.total or self.done % math.ceil(self.total / 10) == 0:
            output(self.line(), stream=self.stream)

    def line(self) -> str:
        width = 30
        filled = width * self.done // max(1, self.total)
        bar = "#" * filled + "." * (width - filled)
        elapsed = time.monotonic() - self.started
        return (
            f"[{bar}] {self.done}/{self.total} failed {self.failed} "
            f"{elapsed:6.1f} s {self.done / max(elapsed, 1e-9):5.2f} jobs/s"
        )


# --- statistics and the report ----------------------------------------------------


def percentile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks of sorted values (numpy's default)."""
    if not ordered:
        raise ValueError("percentile of no values")
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Stats:
    avg: float
    min: float
    max: float
    p50: float
    p75: float
    p90: float
    p95: float
    p99: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats | None:
        if not values:
            return None
        ordered = sorted(values)
        p50, p75, p90, p95, p99 = (percentile(ordered, q) for q in PERCENTILES)
        avg = sum(ordered) / len(ordered)
        return cls(avg, ordered[0], ordered[-1], p50, p75, p90, p95, p99)


@dataclass(frozen=True)
class Group:
    jobs: int
    succeeded: int
    success_rate: float
    throughput: float  # successful jobs per second of the whole run
    latency_s: Stats | None
    download_s: Stats | None

    @classmethod
    def of(cls, results: Sequence[JobResult], duration_s: float) -> Group:
        good = [r for r in results if r.ok]
        return cls(
            jobs=len(results),
            succeeded=len(good),
            success_rate=len(good) / len(results) if results else 0.0,
            throughput=len(good) / duration_s if duration_s > 0 else 0.0,
            latency_s=Stats.of([r.latency_s for r in good if r.latency_s is not None]),
            download_s=Stats.of([r.download_s for r in good if r.download_s is not None]),
        )


@dataclass(frozen=True)
class Failure:
    code: str
    count: int
    example: str


@dataclass(frozen=True)
class Report:
    url: str
    concurrency: int
    inputs: list[str]
    duration_s: float
    overall: Group
    queues: dict[str, Group]
    failures: list[Failure]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def build_report(
    results: Sequence[JobResult], duration_s: float, url: str, concurrency: int, inputs: list[str]
) -> Report:
    queues = {
        queue: Group.of([r for r in results if r.queue == queue], duration_s) for queue in QUEUES
    }
    return Report(
        url=url,
        concurrency=concurrency,
        inputs=inputs,
        duration_s=duration_s,
        overall=Group.of(results, duration_s),
        queues={name: group for name, group in queues.items() if group.jobs},
        failures=failures_of(results),
    )


def failures_of(results: Sequence[JobResult]) -> list[Failure]:
    failed = [r for r in results if not r.ok]
    counts = Counter(str(r.code) for r in failed)
    examples = {str(r.code): str(r.reason) for r in reversed(failed)}  # keeps the first
    return [Failure(code, count, examples[code]) for code, count in counts.most_common()]


COLUMNS = ("jobs", "ok %", "jobs/s", "avg", "min", "max", "P50", "P75", "P90", "P95", "P99")


def render_table(report: Report) -> str:
    overall = report.overall
    lines = [
        f"jobs {overall.jobs}   duration {report.duration_s:.2f} s   "
        f"throughput {overall.throughput:.2f} jobs/s   "
        f"success rate {overall.success_rate:.1%}   concurrency {report.concurrency}",
        f"inputs: {', '.join(report.inputs)}",
        "latency in seconds, submit -> terminal event (successful jobs)",
        "",
        _row("queue", COLUMNS),
        _row("all", _cells(overall)),
    ]
    lines += [_row(name, _cells(group)) for name, group in report.queues.items()]
    lines += _download_lines(overall.download_s)
    lines += _failure_lines(report.failures)
    return "\n".join(lines)


def _cells(group: Group) -> list[str]:
    head = [str(group.jobs), f"{group.success_rate * 100:.1f}", f"{group.throughput:.2f}"]
    stats = group.latency_s
    if stats is None:
        return head + ["-"] * 8
    values = (stats.avg, stats.min, stats.max, stats.p50, stats.p75, stats.p90, stats.p95)
    return head + [f"{v:.2f}" for v in (*values, stats.p99)]


def _row(name: str, cells: Sequence[str]) -> str:
    return f"{name:<13}" + "".join(f"{cell:>8}" for cell in cells)


def _download_lines(stats: Stats | None) -> list[str]:
    if stats is None:
        return []
    return [
        "",
        f"result download (s): avg {stats.avg:.3f}  P50 {stats.p50:.3f}  "
        f"P95 {stats.p95:.3f}  max {stats.max:.3f}",
    ]


def _failure_lines(failures: Sequence[Failure]) -> list[str]:
    if not failures:
        return []
    lines = ["", "failures:"]
    lines += [f"  {f.code:<24} {f.count:>5}  e.g. {f.example}" for f in failures]
    return lines


# --- the run ----------------------------------------------------------------------


async def drive(
    api: Api, specs: Sequence[JobSpec], concurrency: int, job_seconds: float
) -> list[JobResult]:
    """C workers pull from one iterator, so at most C jobs are ever in flight."""
    progress = Progress(len(specs))
    pending: Iterator[JobSpec] = iter(specs)
    results: list[JobResult] = []

    async def worker() -> None:
        for spec in pending:  # asyncio is single-threaded: next() never races
            result = await guarded_job(api, spec, job_seconds)
            results.append(result)
            progress.update(result)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, len(specs))):
            group.create_task(worker())
    return results


async def load_test(args: argparse.Namespace, images: list[InputImage]) -> Report:
    base_url = args.url.rstrip("/")
    # Keep-alive connections sized to the jobs in flight: one each for the upload and
    # the download, with headroom so neither waits on the pool.
    limits = httpx.Limits(max_connections=args.concurrency * 2, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=args.timeout, limits=limits) as http:
        api = Api(base_url, http)
        await api.sign_in(args.email, args.password)
        specs = job_mix(args.jobs, images)
        started = time.monotonic()
        results = await drive(api, specs, args.concurrency, args.timeout)
        duration = time.monotonic() - started
    names = [image.name for image in images]
    return build_report(results, duration, base_url, args.concurrency, names)


def run(args: argparse.Namespace) -> int:
    if (args.email is None) != (args.password is None):
        output("loadtest: --email and --password go together", stream=sys.stderr)
        return 2
    try:
        images = choose_images(args)
        report = asyncio.run(load_test(args, images))
    except (OSError, ValueError, httpx.HTTPError, JobFailure) as exc:
        output(f"loadtest: cannot start: {exc}", stream=sys.stderr)
        return 1
    output(report.to_json() if args.json else render_table(report))
    return 0 if report.overall.succeeded == report.overall.jobs else 1


# --- command line -----------------------------------------------------------------


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def input_kinds(text: str) -> list[str]:
    kinds = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not kinds or any(kind not in ("jpeg", "png") for kind in kinds):
        raise argparse.ArgumentTypeError("a comma-separated list of jpeg and png")
    return list(dict.fromkeys(kinds))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="API base URL")
    parser.add_argument("--jobs", type=positive_int, default=100, help="jobs to run")
    parser.add_argument(
        "--concurrency", type=positive_int, default=20, help="client-side bound on jobs in flight"
    )
    parser.add_argument(
        "--jpeg", type=Path, help="JPEG input (default: synthetic 1224x817 photo-like, q90)"
    )
    parser.add_argument("--png", type=Path, help="PNG input (default: synthetic 1448x1448 RGB)")
    parser.add_argument(
        "--inputs",
        type=input_kinds,
        default=["jpeg", "png"],
        help="which inputs to use, alternating (default: jpeg,png)",
    )
    parser.add_argument("--email", help="sign in as this user (default: register a fresh one)")
    parser.add_argument("--password", help="password for --email")
    parser.add_argument("--json", action="store_true", help="print a JSON document")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds per job (default: 300)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imgflow loadtest", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
