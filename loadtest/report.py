"""Statistics and the report: percentiles, per-queue groups, failures by code, and the
table or JSON document the command prints."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from loadtest.mix import QUEUES
from loadtest.results import JobResult

PERCENTILES = (50, 75, 90, 95, 99)


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
