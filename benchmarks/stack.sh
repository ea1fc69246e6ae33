#!/usr/bin/env bash
# Starts imgflow for benchmarks/overhead.py, prints the --url/--pid arguments to give it,
# and stops everything (and drops what it created) on Ctrl-C or SIGTERM.
#
# usage: benchmarks/stack.sh embedded|services [PORT]
# embedded: `imgflow serve` in a fresh data directory.
# services: `imgflow api` + `worker` + `cron` on the local PostgreSQL, RabbitMQ and
#   Redis, and moto_server for S3 (`pip install 'moto[server]'`), with a database,
#   bucket and namespace of their own. Override with POSTGRES_URL, AMQP_URL, REDIS_URL.
# Worker concurrency 2 per queue, 2 Pillow threads (the README's rows).
set -euo pipefail

mode=${1:-}
port=${2:-8000}
[[ $mode == embedded || $mode == services ]] || { sed -n '5,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
command -v imgflow >/dev/null || { echo "stack.sh: imgflow not on PATH (activate the venv)" >&2; exit 2; }

concurrency=convert=2,rotate=2,resize=2,force_resize=2
run=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ -n ${database:-} ]]; then
        psql -q "$POSTGRES_URL" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" || true
        # Quorum queues are heavy: a shared RabbitMQ must not collect a set per run.
        python - "$IMGFLOW_BROKER_URL" "$IMGFLOW_NAMESPACE" <<'PY' || true
import asyncio
import sys

import aio_pika

from imgflow.backends.broker.rabbitmq import DELAY_TIERS_SECONDS, Topology
from imgflow.domain import QueueName


async def delete(url: str, namespace: str) -> None:
    names = Topology(namespace)
    queues = [names.queue(queue) for queue in QueueName]
    queues += [names.dead_queue, *(names.retry_queue(tier) for tier in DELAY_TIERS_SECONDS)]
    exchanges = (names.jobs_exchange, names.dead_letter_exchange, names.retry_exchange)
    connection = await aio_pika.connect(url, timeout=10)
    async with connection:
        channel = await connection.channel()
        for queue in queues:
            await channel.queue_delete(queue)
        for exchange in exchanges:
            await channel.exchange_delete(exchange)


asyncio.run(delete(sys.argv[1], sys.argv[2]))
PY
    fi
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

wait_healthy() {
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$1/healthz" >/dev/null && return 0
        sleep 0.3
    done
    echo "stack.sh: nothing healthy on port $1; logs in $run" >&2
    exit 1
}

cd "$run"
# Every load test registers a user of its own, from one address.
export IMGFLOW_REGISTRATIONS_PER_HOUR=100000
if [[ $mode == embedded ]]; then
    IMGFLOW_DATA_DIR=$run/data imgflow serve --port "$port" --concurrency "$concurrency" >serve.log 2>&1 &
    pids+=($!)
    wait_healthy "$port"
    roles="--pid serve=${pids[0]}"
else
    POSTGRES_URL=${POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
    s3_port=$((port + 1))
    moto_server -H 127.0.0.1 -p "$s3_port" >moto.log 2>&1 &
    pids+=($!)
    tag=bench$(date +%s)
    database=imgflow_$tag
    psql -q "$POSTGRES_URL" -c "CREATE DATABASE $database"
    export IMGFLOW_DATABASE_URL=${POSTGRES_URL%/*}/$database
    IMGFLOW_DATABASE_URL=${IMGFLOW_DATABASE_URL/postgresql:/postgresql+asyncpg:}
    export IMGFLOW_BROKER_URL=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}
    export IMGFLOW_REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
    export IMGFLOW_STORAGE_URL=s3://$tag/run IMGFLOW_S3_ENDPOINT_URL=http://127.0.0.1:$s3_port
    export IMGFLOW_NAMESPACE=$tag
    export IMGFLOW_JWT_SECRET=bench-secret-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
    for _ in $(seq 50); do curl -fs "http://127.0.0.1:$s3_port/" >/dev/null && break; sleep 0.2; done
    python -c "import boto3; boto3.client('s3', endpoint_url='http://127.0.0.1:$s3_port').create_bucket(Bucket='$tag')"
    imgflow migrate >migrate.log 2>&1
    imgflow api --port "$port" >api.log 2>&1 &
    pids+=($!)
    imgflow worker --port $((port + 2)) --concurrency "$concurrency" >worker.log 2>&1 &
    pids+=($!)
    imgflow cron >cron.log 2>&1 &
    pids+=($!)
    wait_healthy "$port"
    wait_healthy $((port + 2))
    roles="--pid api=${pids[1]} --pid worker=${pids[2]}"
fi
echo "ready: python benchmarks/overhead.py --url http://127.0.0.1:$port $roles"
echo "(logs in $run; Ctrl-C stops and cleans up)"
wait
