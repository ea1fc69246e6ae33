// A front-end's view of one job, as a real graphql-ws client sees it: subscribe to the
// per-user stream, read a job id on stdin, subscribe to that job, and print every event
// of both streams as JSON lines until the job is terminal.
//
//   node build/src/watch.js ws://127.0.0.1:8000/graphql <token>
import { createInterface } from "node:readline";

import { print } from "graphql";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";

import {
  JobStatus,
  JobUpdatedDocument,
  JobsUpdatedDocument,
  type JobUpdatedSubscription,
  type JobsUpdatedSubscription,
} from "../generated/graphql.js";

const TERMINAL: ReadonlySet<JobStatus> = new Set([
  JobStatus.Succeeded,
  JobStatus.Failed,
  JobStatus.Cancelled,
]);

function emit(line: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(line) + "\n");
}

function follow<Result, Variables extends Record<string, unknown>>(
  client: Client,
  document: TypedDocumentNode<Result, Variables>,
  variables: Variables,
  onData: (data: Result) => boolean,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const stop = client.subscribe<Result>(
      { query: print(document), variables },
      {
        next: (message) => {
          if (message.errors) reject(new Error(JSON.stringify(message.errors)));
          else if (message.data && onData(message.data)) {
            stop();
            resolve();
          }
        },
        error: reject,
        complete: resolve,
      },
    );
  });
}

async function main(): Promise<void> {
  const [url, token] = process.argv.slice(2);
  if (!url || !token) throw new Error("usage: watch.js <ws url> <token>");
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
  });
  const finished = new Set<string>(); // ids seen terminal on the per-user stream
  const perUser = follow<JobsUpdatedSubscription, Record<string, never>>(
    client,
    JobsUpdatedDocument,
    {},
    (data) => {
      const job = data.jobsUpdated;
      emit({ stream: "jobsUpdated", id: job.id, status: job.status });
      if (TERMINAL.has(job.status)) finished.add(job.id);
      return false; // runs until the client is disposed
    },
  );
  // The server subscribes before it answers anything; a short pause lets the
  // subscription be in place before the test submits the job.
  await new Promise((resolve) => setTimeout(resolve, 500));
  emit({ ready: true });
  const jobId = await firstLine();
  await follow<JobUpdatedSubscription, { id: string }>(
    client,
    JobUpdatedDocument,
    { id: jobId },
    (data) => {
      const job = data.jobUpdated;
      emit({ stream: "jobUpdated", id: job.id, status: job.status, format: job.result?.format ?? null });
      return false; // the server completes the subscription after a terminal state
    },
  );
  // The per-user stream may deliver the end a moment after (or before) the job's own.
  const deadline = Date.now() + 10_000;
  while (!finished.has(jobId) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await client.dispose();
  await perUser;
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
