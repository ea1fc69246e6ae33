"""CPU the API process spends per GraphQL request, read from /proc (Linux).

Start a service, then:

    python benchmarks/request_cpu.py --url http://127.0.0.1:8000 --pid <server pid>

It registers a user, then sends `--requests` requests of each kind one after another
(a small query, and a job status query with fragments and variables, as clients send
them) over one keep-alive connection, and prints the server's CPU milliseconds per
request for each, next to the load average. Run it against the code before and after
a change on the same machine, one right after the other.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid

import httpx

KINDS = {
    "me": ("query Me { me { id email } }", {}),
    "jobs": (
        """
        query Recent($first: Int!) { jobs(first: $first) { edges { node { ...JobParts } } } }
        fragment JobParts on Job {
          id status queue attempts createdAt operations
          source { format width height bytes } result { url format width height bytes }
          error { code message }
        }
        """,
        {"first": 10},
    ),
}


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process and its threads, in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--pid", type=int, required=True, help="the API (or serve) process")
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    graphql = args.url.rstrip("/") + "/graphql"
    with httpx.Client(timeout=30) as http:
        register = (
            'mutation($e: String!) { register(email: $e, password: "correct horse") { token } }'
        )
        email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
        answer = http.post(graphql, json={"query": register, "variables": {"e": email}}).json()
        headers = {"Authorization": f"Bearer {answer['data']['register']['token']}"}
        report = {"load_average": os.getloadavg()[0], "requests": args.requests}
        for kind, (query, variables) in KINDS.items():
            body = {"query": query, "variables": variables}
            http.post(graphql, json=body, headers=headers).raise_for_status()  # warm
            cpu, wall = cpu_seconds(args.pid), time.monotonic()
            for _ in range(args.requests):
                response = http.post(graphql, json=body, headers=headers)
                if response.status_code != 200 or "errors" in response.json():
                    raise SystemExit(f"{kind}: {response.status_code} {response.text[:200]}")
            cpu, wall = cpu_seconds(args.pid) - cpu, time.monotonic() - wall
            report[kind] = {
                "server_cpu_ms_per_request": round(1000 * cpu / args.requests, 3),
                "wall_ms_per_request": round(1000 * wall / args.requests, 3),
            }
    print(json.dumps(report, indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
