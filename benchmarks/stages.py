"""Where a server process's Python time goes, by stage, from a py-spy raw profile.

Take the profile while a load test runs (see benchmarks/README.md), e.g.

    py-spy record --pid PID --gil --nonblocking --format raw -o stacks.txt --duration 30

then `python benchmarks/stages.py stacks.txt`. Each sampled stack counts once, towards the
stage of its innermost frame that has a stage's marker: the library doing the work, so a
database call made by a resolver counts as database, not GraphQL. The asyncio machinery
counts only when no other frame has a marker.
With `--gil` only the thread holding the GIL is sampled: Pillow's C work (which releases
it) is not seen, which is what is wanted for the service's own cost.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

LOOP = "event loop"
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("image work (Pillow, codec)", ("PIL/", "workers/codec", "workers/transforms", "render (")),
    ("GraphQL parse + validate", ("graphql/language", "graphql/validation", "query_limits")),
    ("database (SQLAlchemy, drivers)", ("sqlalchemy/", "sqlmodel/", "aiosqlite/", "asyncpg/")),
    ("storage (S3, files)", ("aiobotocore/", "botocore/", "aioboto3/", "backends/storage")),
    ("Redis (limits, events)", ("redis/",)),
    ("broker (RabbitMQ, in-process)", ("aio_pika/", "aiormq/", "pamqp/", "backends/broker")),
    ("auth (JWT, accounts)", ("jwt/", "accounts/")),
    ("GraphQL execute", ("graphql/execution", "strawberry/")),
    ("HTTP + WebSocket", ("uvicorn/", "starlette/", "websockets/", "httptools", "h11/")),
    ("logging", ("logging/", "imgflow/logs")),
    (LOOP, ("asyncio/",)),
)


def stage_of(stack: str) -> str:
    frames = stack.split(";")
    for frame in reversed(frames):  # innermost first
        for name, markers in STAGES:
            if name != LOOP and any(marker in frame for marker in markers):
                return name
    return LOOP if "asyncio/" in stack else "other"


def breakdown(lines: list[str]) -> Counter[str]:
    samples: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            samples[stage_of(stack)] += int(count)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("profile", type=Path, help="py-spy --format raw output")
    args = parser.parse_args(argv)
    samples = breakdown(args.profile.read_text().splitlines())
    total = sum(samples.values()) or 1
    for name, count in samples.most_common():
        print(f"{100 * count / total:5.1f}%  {count:6d}  {name}")  # noqa: T201
    print(f"{100:5.1f}%  {total:6d}  samples")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
