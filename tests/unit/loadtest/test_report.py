"""The load test's arithmetic and output, on known numbers: percentiles, the job mix,
expected result sizes, the report and its table."""

from __future__ import annotations

import json

import pytest

from loadtest.images import InputImage
from loadtest.mix import fitted, job_mix
from loadtest.report import Stats, build_report, percentile, render_table
from loadtest.results import JobResult

JPEG = InputImage("photo.jpg", b"", "JPEG", (1224, 817))
PNG = InputImage("photo.png", b"", "PNG", (1448, 1448))


@pytest.mark.parametrize(
    ("q", "expected"),
    [(0, 1.0), (50, 2.5), (75, 3.25), (90, 3.7), (99, 3.97), (100, 4.0)],
)
def test_percentile_interpolates_between_closest_ranks(q: float, expected: float) -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], q) == pytest.approx(expected)


def test_percentile_of_one_value_and_of_none() -> None:
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_stats_on_1_to_100() -> None:
    stats = Stats.of([float(v) for v in range(100, 0, -1)])  # order must not matter
    assert stats is not None
    assert (stats.min, stats.max, stats.avg) == (1.0, 100.0, 50.5)
    assert stats.p50 == pytest.approx(50.5)
    assert stats.p75 == pytest.approx(75.25)
    assert stats.p90 == pytest.approx(90.1)
    assert stats.p95 == pytest.approx(95.05)
    assert stats.p99 == pytest.approx(99.01)
    assert Stats.of([]) is None


def test_fitted_keeps_aspect_inside_the_box() -> None:
    assert fitted((1224, 817), (800, 600)) == (800, 534)
    assert fitted((1448, 1448), (800, 600)) == (600, 600)
    assert fitted((400, 300), (800, 600)) == (800, 600)


def test_job_mix_is_round_robin_over_operation_and_input() -> None:
    specs = job_mix(8, [JPEG, PNG])
    assert [s.queue for s in specs] == ["ROTATE", "RESIZE", "FORCE_RESIZE", "CONVERT"] * 2
    assert [s.image.format for s in specs] == ["JPEG"] * 4 + ["PNG"] * 4
    expected = [(s.expected_format, s.expected_size) for s in specs]
    assert expected == [
        ("JPEG", (817, 1224)),
        ("JPEG", (800, 534)),
        ("JPEG", (800, 600)),
        ("PNG", (1224, 817)),
        ("PNG", (1448, 1448)),
        ("PNG", (600, 600)),
        ("PNG", (800, 600)),
        ("JPEG", (1448, 1448)),
    ]
    assert specs[3].operation == {"convert": {"format": "PNG"}}


def results() -> list[JobResult]:
    return [
        JobResult("ROTATE", True, 1.0, 0.01),
        JobResult("ROTATE", True, 3.0, 0.03),
        JobResult("CONVERT", True, 2.0, 0.02),
        JobResult("CONVERT", False, code="TIMEOUT", reason="no result in 300 s"),
        JobResult("CONVERT", False, code="CORRUPT_IMAGE", reason="truncated"),
        JobResult("CONVERT", False, code="TIMEOUT", reason="later"),
    ]


def test_report_overall_per_queue_and_failures() -> None:
    report = build_report(results(), 2.0, "http://x", 4, ["a.jpg"])
    assert (report.overall.jobs, report.overall.succeeded) == (6, 3)
    assert report.overall.success_rate == 0.5
    assert report.overall.throughput == 1.5  # successful jobs per second
    assert report.overall.latency_s is not None
    assert report.overall.latency_s.p50 == 2.0
    assert list(report.queues) == ["ROTATE", "CONVERT"], "empty queues are left out"
    assert report.queues["ROTATE"].latency_s == Stats.of([1.0, 3.0])
    assert report.queues["CONVERT"].success_rate == 0.25
    assert [(f.code, f.count, f.example) for f in report.failures] == [
        ("TIMEOUT", 2, "no result in 300 s"),
        ("CORRUPT_IMAGE", 1, "truncated"),
    ]
    assert json.loads(report.to_json())["queues"]["ROTATE"]["latency_s"]["max"] == 3.0


def test_table_lists_totals_queues_percentiles_and_failures() -> None:
    table = render_table(build_report(results(), 2.0, "http://x", 4, ["a.jpg"]))
    lines = table.splitlines()
    assert lines[0].startswith("jobs 6   duration 2.00 s   throughput 1.50 jobs/s")
    assert "success rate 50.0%" in lines[0]
    header = next(line for line in lines if line.startswith("queue"))
    assert header.split() == [
        "queue", "jobs", "ok", "%", "jobs/s", "avg", "min", "max",
        "P50", "P75", "P90", "P95", "P99",
    ]  # fmt: skip
    rotate = next(line for line in lines if line.startswith("ROTATE"))
    assert rotate.split() == [
        "ROTATE", "2", "100.0", "1.00", "2.00", "1.00", "3.00",
        "2.00", "2.50", "2.80", "2.90", "2.98",
    ]  # fmt: skip
    assert any(line.split()[:3] == ["TIMEOUT", "2", "e.g."] for line in lines)


def test_table_without_successes_shows_dashes() -> None:
    failed = [JobResult("RESIZE", False, code="X", reason="y")]
    table = render_table(build_report(failed, 1.0, "http://x", 1, ["a"]))
    resize = next(line for line in table.splitlines() if line.startswith("RESIZE"))
    assert resize.split()[4:] == ["-"] * 8
