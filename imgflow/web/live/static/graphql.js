// The API from the browser: GraphQL over HTTP (JSON, and multipart uploads per the
// GraphQL multipart request spec) and a small graphql-transport-ws client for
// subscriptions. Everything goes to this page's own origin.

// Relative to this file (…/live/static/graphql.js), so a path prefix in front of the
// API keeps working.
const HTTP_URL = new URL("../../graphql", import.meta.url);
const WS_URL = new URL(HTTP_URL);
WS_URL.protocol = HTTP_URL.protocol === "https:" ? "wss:" : "ws:";

const PROTOCOL = "graphql-transport-ws";
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 15000;
// Close codes after which trying again cannot help: refused token, too many connections.
const FINAL_CLOSE_CODES = new Set([4400, 4401, 4403, 4429]);

export class ApiError extends Error {
  constructor(errors) {
    super(errors.map((error) => error.message).join("; ") || "request failed");
    this.errors = errors;
    this.code = errors[0]?.extensions?.code ?? "ERROR";
  }
}

function authorization(token) {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function dataOf(response) {
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError([{ message: `HTTP ${response.status}` }]);
  }
  if (body.errors?.length) throw new ApiError(body.errors);
  if (body.error) {
    // Refusals before GraphQL runs (413 and the like) answer {error, message}.
    throw new ApiError([{ message: body.message ?? body.error, extensions: { code: body.error } }]);
  }
  if (!response.ok || !body.data) throw new ApiError([{ message: `HTTP ${response.status}` }]);
  return body.data;
}

export async function request(query, variables, token) {
  const response = await fetch(HTTP_URL, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...authorization(token) },
    body: JSON.stringify({ query, variables }),
  });
  return dataOf(response);
}

// `operations` carries the request with the file variable null, `map` says where the
// file part goes, then the file itself.
export async function upload(query, variables, fileVariable, file, token) {
  const form = new FormData();
  form.append("operations", JSON.stringify({ query, variables: { ...variables, [fileVariable]: null } }));
  form.append("map", JSON.stringify({ 0: [`variables.${fileVariable}`] }));
  form.append("0", file, file.name);
  const response = await fetch(HTTP_URL, { method: "POST", headers: authorization(token), body: form });
  return dataOf(response);
}

// One WebSocket for all of a user's subscriptions. A dropped connection is opened again
// with backoff and every running subscription sent again; `onReconnect` lets the page
// re-read what it may have missed meanwhile.
export class LiveConnection {
  #token;
  #onReconnect;
  #onFatal;
  #socket = null;
  #acknowledged = false;
  #closed = false;
  #retryMs = RETRY_MIN_MS;
  #nextId = 1;
  #subscriptions = new Map();

  constructor(token, { onReconnect = () => {}, onFatal = () => {} } = {}) {
    this.#token = token;
    this.#onReconnect = onReconnect;
    this.#onFatal = onFatal;
    this.#open(false);
  }

  // sink: {next(data), error(ApiError), complete()}; returns a function that stops it.
  subscribe(query, variables, sink) {
    const id = String(this.#nextId++);
    this.#subscriptions.set(id, { payload: { query, variables }, sink });
    if (this.#acknowledged) this.#send({ id, type: "subscribe", payload: { query, variables } });
    return () => {
      if (this.#subscriptions.delete(id) && this.#acknowledged) this.#send({ id, type: "complete" });
    };
  }

  close() {
    this.#closed = true;
    this.#subscriptions.clear();
    this.#socket?.close(1000, "signed out");
  }

  #open(again) {
    const socket = new WebSocket(WS_URL, PROTOCOL);
    this.#socket = socket;
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "connection_init", payload: authorization(this.#token) }));
    });
    socket.addEventListener("message", (event) => this.#receive(JSON.parse(event.data), again));
    socket.addEventListener("close", (event) => this.#lost(event));
  }

  #receive(message, again) {
    if (message.type === "connection_ack") {
      this.#acknowledged = true;
      this.#retryMs = RETRY_MIN_MS;
      for (const [id, { payload }] of this.#subscriptions) this.#send({ id, type: "subscribe", payload });
      if (again) this.#onReconnect();
      return;
    }
    if (message.type === "ping") {
      this.#send({ type: "pong" });
      return;
    }
    const subscription = this.#subscriptions.get(message.id);
    if (!subscription) return;
    const { sink } = subscription;
    if (message.type === "next") {
      if (message.payload.errors?.length) sink.error(new ApiError(message.payload.errors));
      else sink.next(message.payload.data);
    } else if (message.type === "error") {
      this.#subscriptions.delete(message.id);
      sink.error(new ApiError(message.payload));
    } else if (message.type === "complete") {
      this.#subscriptions.delete(message.id);
      sink.complete();
    }
  }

  #lost(event) {
    this.#acknowledged = false;
    if (this.#closed) return;
    if (FINAL_CLOSE_CODES.has(event.code)) {
      this.#closed = true;
      this.#onFatal(new ApiError([{ message: event.reason || `connection refused (${event.code})` }]));
      return;
    }
    setTimeout(() => this.#closed || this.#open(true), this.#retryMs);
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
  }

  #send(message) {
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(message));
  }
}
