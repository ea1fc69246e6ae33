// A front-end following a job with several outputs, as a real graphql-ws client sees it:
// subscribe to the per-user stream, print every event as a JSON line (its progress and
// the outputs stored so far), read a job id on stdin, and stop once that job has ended.
//
//   node build/src/progress.js ws://127.0.0.1:8000/graphql <token>
import { createInterface } from "node:readline";

import { print } from "graphql";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

import {
  JobStatus,
  OutputsUpdatedDocument,
  type OutputsUpdatedSubscription,
} from "../generated/graphql.js";

const TERMINAL: ReadonlySet<JobStatus> = new Set([
  JobStatus.Succeeded,
  JobStatus.Failed,
  JobStatus.Cancelled,
]);

function emit(line: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(line) + "\n");
}

async function main(): Promise<void> {
  const [url, token] = process.argv.slice(2);
  if (!url || !token) throw new Error("usage: progress.js <ws url> <token>");
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
  });
  const finished = new Set<string>();
  const stream = new Promise<void>((resolve, reject) => {
    client.subscribe<OutputsUpdatedSubscription>(
      { query: print(OutputsUpdatedDocument) },
      {
        next: (message) => {
          if (message.errors) return reject(new Error(JSON.stringify(message.errors)));
          const job = message.data?.jobsUpdated;
          if (!job) return;
          const stored = job.outputs.filter((output) => output.image !== null);
          emit({
            id: job.id,
            status: job.status,
            done: job.progress.done,
            total: job.progress.total,
            stored: stored.map((output) => output.name),
            widths: stored.map((output) => output.image?.width ?? null),
            srcset: job.srcset ?? null,
          });
          if (TERMINAL.has(job.status)) finished.add(job.id);
        },
        error: reject,
        complete: resolve,
      },
    );
  });
  await new Promise((resolve) => setTimeout(resolve, 500));
  emit({ ready: true });
  const jobId = await firstLine();
  const deadline = Date.now() + 60_000;
  while (!finished.has(jobId) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await client.dispose();
  await Promise.race([stream, new Promise((resolve) => setTimeout(resolve, 1000))]);
}

async function firstLine(): Promise<string> {
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    lines.close();
    return line.trim();
  }
  throw new Error("no job id on stdin");
}

main().catch((error: unknown) => {
  emit({ error: String(error) });
  process.exit(1);
});
