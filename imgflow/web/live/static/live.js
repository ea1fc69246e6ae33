// The live page: sign in, submit an image with a pipeline, follow it, list recent jobs.

import * as documents from "./documents.js";
import { ApiError, LiveConnection, request, upload } from "./graphql.js";
import { JobView, RecentJobs } from "./jobs.js";
import { PipelineEditor } from "./operations.js";

// sessionStorage: a token lasts as long as the tab, and survives a reload of it.
const TOKEN_KEY = "imgflow.token";
const byId = (id) => document.getElementById(id);

const session = { token: null, live: null, stopWatching: () => {} };
const view = new JobView();
const recent = new RecentJobs(byId("recent-jobs"), byId("recent-empty"), (job) => watch(job));
const pipeline = new PipelineEditor(byId("steps"), () => byId("step-kind").focus());
let previewUrl = null;

function message(error) {
  return error instanceof ApiError ? `${error.message} (${error.code})` : String(error.message ?? error);
}

// A token the API no longer takes (expired, account disabled) ends the session.
function fail(target, error) {
  if (error instanceof ApiError && error.code === "UNAUTHENTICATED") {
    signOut("Your session has ended: sign in again.");
    return;
  }
  byId(target).textContent = message(error);
}

async function signIn(event) {
  event.preventDefault();
  const register = event.submitter?.value === "register";
  const variables = { email: byId("email").value.trim(), password: byId("password").value };
  byId("account-error").textContent = "";
  try {
    const data = await request(register ? documents.REGISTER : documents.LOGIN, variables);
    const answer = register ? data.register : data.login;
    begin(answer.token, answer.user.email);
  } catch (error) {
    byId("account-error").textContent = message(error);
  }
}

async function resume(token) {
  try {
    const data = await request(documents.ME, {}, token);
    begin(token, data.me.email);
  } catch (error) {
    signOut(error instanceof ApiError && error.code === "UNAUTHENTICATED" ? "" : message(error));
  }
}

function begin(token, email) {
  session.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  byId("who-email").textContent = email;
  byId("password").value = "";
  byId("who").hidden = false;
  byId("account").hidden = true;
  byId("app").hidden = false;
  session.live = new LiveConnection(token, {
    onReconnect: loadRecent,
    onFatal: (error) => fail("job-error", error),
  });
  session.live.subscribe(documents.JOBS_UPDATED, {}, {
    next: (data) => recent.upsert(data.jobsUpdated),
    error: (error) => fail("job-error", error),
    complete: () => {},
  });
  loadRecent();
  byId("file").focus();
}

function signOut(reason = "") {
  session.stopWatching();
  session.live?.close();
  Object.assign(session, { token: null, live: null, stopWatching: () => {} });
  sessionStorage.removeItem(TOKEN_KEY);
  recent.clear();
  byId("current").hidden = true;
  byId("app").hidden = true;
  byId("who").hidden = true;
  byId("account").hidden = false;
  byId("account-error").textContent = reason;
  byId("email").focus();
}

async function loadRecent() {
  try {
    const data = await request(documents.RECENT_JOBS, { first: 10 }, session.token);
    recent.replace(data.jobs.edges.map((edge) => edge.node));
  } catch (error) {
    fail("job-error", error);
  }
}

// jobUpdated answers with the current state first, so watching an old job shows it too.
function watch(job) {
  session.stopWatching();
  view.show(job);
  session.stopWatching = session.live.subscribe(documents.JOB_UPDATED, { id: job.id }, {
    next: (data) => view.update(data.jobUpdated),
    error: (error) => view.failure(message(error)),
    complete: () => {},
  });
}

async function submitJob(event) {
  event.preventDefault();
  const analyze = byId("analyze").checked;
  const [srcset, widthsProblem] = readWidths(byId("srcset-widths").value);
  // With a srcset, or "Analyze" ticked, the steps are optional: the widths are made
  // from the source, and an analysis alone makes no output.
  const [steps, stepsProblem] = pipeline.read();
  const operations = steps ?? [];
  const optional = (srcset || analyze) && operations.length === 0;
  const problem = widthsProblem ?? (optional ? null : stepsProblem);
  const file = byId("file").files[0];
  byId("job-error").textContent = problem ?? "";
  if (problem || !file) return;
  const button = byId("submit-job");
  button.disabled = true;
  try {
    const variables = { operations, srcset, analyze };
    const data = await upload(documents.SUBMIT, variables, "file", file, session.token);
    recent.upsert(data.submitImage);
    watch(data.submitImage);
  } catch (error) {
    fail("job-error", error);
  } finally {
    button.disabled = false;
  }
}

// "320, 640" -> { widths: [320, 640] }; empty -> no srcset.
function readWidths(text) {
  const parts = text.split(",").map((part) => part.trim()).filter(Boolean);
  if (parts.length === 0) return [null, null];
  if (!parts.every((part) => /^[1-9][0-9]*$/.test(part))) {
    return [null, "Responsive widths are whole numbers separated by commas, e.g. 320,640."];
  }
  return [{ widths: parts.map(Number) }, null];
}

function showPreview() {
  const file = byId("file").files[0];
  const preview = byId("preview");
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = file ? URL.createObjectURL(file) : null;
  byId("preview-note").hidden = true;
  preview.hidden = !previewUrl;
  if (previewUrl) preview.src = previewUrl;
  else preview.removeAttribute("src");
}

// A file the browser cannot draw (not an image, or a format such as HEIC it does not
// know) gets words instead of a broken picture; the server decides what it accepts.
function noPreview() {
  const file = byId("file").files[0];
  byId("preview").hidden = true;
  const note = byId("preview-note");
  note.textContent = `No preview: this browser cannot show ${file?.name ?? "this file"} as an image. ` +
    "You can still submit it; imgflow checks the file itself and says if it cannot use it.";
  note.hidden = false;
}

function acceptDrops(zone, input) {
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    if (!event.dataTransfer?.files.length) return;
    input.files = event.dataTransfer.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });
}

function start() {
  byId("account-form").addEventListener("submit", signIn);
  byId("sign-out").addEventListener("click", () => signOut());
  byId("job-form").addEventListener("submit", submitJob);
  byId("add-step").addEventListener("click", () => pipeline.add(byId("step-kind").value));
  byId("file").addEventListener("change", showPreview);
  byId("preview").addEventListener("error", noPreview);
  acceptDrops(byId("drop-zone"), byId("file"));
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) resume(token);
}

start();
