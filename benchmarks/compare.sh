#!/usr/bin/env bash
# One README row: the raw baseline (benchmarks/raw_baseline.py) and, right after it on
# the same machine, `imgflow loadtest` against a running service, then their ratio.
#
# usage: benchmarks/compare.sh URL [--jobs N] [--repeats R] [--concurrency C]
#                                  [--jpeg FILE] [--png FILE]
# Run from an activated venv (needs `python` with imgflow installed and `imgflow`).
# Exit status: 0, or 1 if any load-test job failed (the row is still printed).
set -euo pipefail

usage() {
    sed -n '5,6p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[[ $# -ge 1 && $1 != -* ]] || usage
url=$1
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
images=$(cd "$here/../.." && pwd)/shared/bench-images
jobs=100 repeats=3 concurrency=20
jpeg=$images/photo_1mp.jpg png=$images/photo_2mp.png
while [[ $# -gt 0 ]]; do
    [[ $# -ge 2 ]] || usage
    case $1 in
        --jobs) jobs=$2 ;;
        --repeats) repeats=$2 ;;
        --concurrency) concurrency=$2 ;;
        --jpeg) jpeg=$2 ;;
        --png) png=$2 ;;
        *) usage ;;
    esac
    shift 2
done
command -v imgflow >/dev/null || { echo "compare.sh: imgflow not on PATH (activate the venv)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "raw baseline: $jobs jobs x $repeats repeats, 1 and 2 threads ..." >&2
python "$here/raw_baseline.py" --jobs "$jobs" --repeats "$repeats" \
    --jpeg "$jpeg" --png "$png" --json >"$tmp/raw.json"

echo "load test: $url, $jobs jobs, concurrency $concurrency ..." >&2
status=0
imgflow loadtest --url "$url" --jobs "$jobs" --concurrency "$concurrency" \
    --jpeg "$jpeg" --png "$png" --json >"$tmp/e2e.json" || status=$?
if [[ ! -s $tmp/e2e.json ]]; then
    echo "compare.sh: the load test produced no report (exit $status)" >&2
    exit 1
fi

python - "$tmp/raw.json" "$tmp/e2e.json" <<'PY'
import json
import sys
from pathlib import Path

raw = json.loads(Path(sys.argv[1]).read_text())
e2e = json.loads(Path(sys.argv[2]).read_text())
raw_1 = raw["threads"]["1"]["jobs_per_s"]
raw_2 = raw["threads"]["2"]["jobs_per_s"]
overall = e2e["overall"]
end_to_end = overall["throughput"]
latency = overall["latency_s"] or {}
p50, p99 = latency.get("p50", float("nan")), latency.get("p99", float("nan"))
ratio = end_to_end / raw_2
inputs = " + ".join(Path(i["path"]).name for i in raw["inputs"])
ok = f"{overall['succeeded']}/{overall['jobs']}"
print(f"inputs                 {inputs}")
print(f"raw jobs/s, 1 thread   {raw_1:.2f}")
print(f"raw jobs/s, 2 threads  {raw_2:.2f}")
print(f"end-to-end jobs/s      {end_to_end:.2f}  ({ok} ok, concurrency {e2e['concurrency']})")
print(f"ratio e2e / raw (2 t)  {ratio:.2f}")
print(f"latency P50 / P99      {p50:.2f} s / {p99:.2f} s")
print(f"load average           {raw['loadavg_before']} before raw, {raw['loadavg_after']} after")
print()
print("| inputs | jobs | raw jobs/s (2 threads) | end-to-end jobs/s | ratio | P50 s | P99 s |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
print(
    f"| {inputs} | {overall['jobs']} | {raw_2:.2f} | {end_to_end:.2f} | {ratio:.2f} "
    f"| {p50:.2f} | {p99:.2f} |"
)
PY
exit "$status"
