"""`imgflow loadtest` against a real `imgflow serve`: a real process driving the public
API (multipart uploads, graphql-transport-ws, downloads), read back through `--json`."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import Server

LOADTEST = [sys.executable, "-m", "imgflow.cli", "loadtest"]


def test_loadtest_runs_the_mix_and_reports(server: Server) -> None:
    args = ["--url", server.base_url, "--jobs", "12", "--concurrency", "4", "--json"]
    done = subprocess.run([*LOADTEST, *args], capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    overall = report["overall"]
    assert (overall["jobs"], overall["succeeded"], overall["success_rate"]) == (12, 12, 1.0)
    assert report["failures"] == []
    assert {name: group["jobs"] for name, group in report["queues"].items()} == {
        "ROTATE": 3,
        "RESIZE": 3,
        "FORCE_RESIZE": 3,
        "CONVERT": 3,
    }
    for group in [overall, *report["queues"].values()]:
        latency = group["latency_s"]
        assert 0 < latency["min"] <= latency["p50"] <= latency["p95"] <= latency["max"]
    assert overall["throughput"] > 0
    assert "12/12" in done.stderr, "progress is reported on stderr"


def test_loadtest_submits_variant_jobs_with_a_srcset(server: Server) -> None:
    """Every job of the mix also makes a srcset of its input; each output is checked,
    the widths wider than an input left out (the default inputs are 1224 and 1448 wide)."""
    args = ["--url", server.base_url, "--jobs", "4", "--concurrency", "2", "--json"]
    done = subprocess.run(
        [*LOADTEST, *args, "--srcset", "160,320,1300"],
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert (report["overall"]["jobs"], report["overall"]["succeeded"]) == (4, 4)
    assert set(report["queues"]) == {"ROTATE", "RESIZE", "FORCE_RESIZE", "CONVERT"}
