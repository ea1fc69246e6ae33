// What the page shows of jobs: the one being watched and the recent list. Server data
// only ever lands in textContent, attributes and vetted URLs, never in markup.

const RECENT_LIMIT = 10;
const VIEW_IDS = [
  "current", "job-id", "job-status", "timeline", "job-operations", "job-failure",
  "result", "result-image", "result-info", "result-link",
];

function element(tag, { className, text } = {}, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  node.append(...children);
  return node;
}

// File links come from the API; still, only http(s) may reach an href or src.
function webUrl(value) {
  try {
    const url = new URL(value, document.baseURI);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

// Formats most browsers do not display (Safari alone shows JPEG XL and TIFF).
const NO_PREVIEW = new Set(["JXL", "TIFF"]);

export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} kB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function describeImage(image) {
  const frames = image.frames > 1 ? ` · ${image.frames} frames` : "";
  return `${image.width} × ${image.height} · ${image.format} · ${formatBytes(image.bytes)}${frames}`;
}

function clock(iso) {
  return new Date(iso).toLocaleTimeString();
}

export class JobView {
  #el = {};
  #jobId = null;
  #seen = new Set();

  constructor() {
    for (const id of VIEW_IDS) this.#el[id] = document.getElementById(id);
  }

  get jobId() {
    return this.#jobId;
  }

  show(job) {
    this.#jobId = job.id;
    this.#seen.clear();
    this.#el.timeline.replaceChildren();
    this.#el["job-id"].textContent = job.id;
    this.#el.result.hidden = true;
    this.#el["result-image"].removeAttribute("src");
    this.#el.current.hidden = false;
    this.update(job);
  }

  update(job) {
    if (job.id !== this.#jobId) return;
    const status = this.#el["job-status"];
    status.textContent = job.status;
    status.dataset.status = job.status;
    if (!this.#seen.has(job.status)) {
      this.#seen.add(job.status);
      const entry = element("li", { text: `${job.status} ` }, element("time", { text: clock(job.updatedAt) }));
      entry.querySelector("time").dateTime = job.updatedAt;
      this.#el.timeline.append(entry);
    }
    const source = job.source ? ` (from ${describeImage(job.source)})` : "";
    this.#el["job-operations"].textContent = `${job.operations.join(" → ")}${source}`;
    this.#el["job-failure"].textContent = job.error ? `${job.error.code}: ${job.error.message}` : "";
    this.#showResult(job.result);
  }

  failure(message) {
    this.#el["job-failure"].textContent = message;
  }

  #showResult(result) {
    const url = result ? webUrl(result.url) : null;
    if (!url) return;
    this.#el["result-image"].src = url;
    this.#el["result-link"].href = url;
    const note = NO_PREVIEW.has(result.format) ? ` · most browsers cannot show ${result.format}: download it` : "";
    this.#el["result-info"].textContent = `${describeImage(result)}${note}`;
    this.#el.result.hidden = false;
  }
}

export class RecentJobs {
  #jobs = new Map();
  #list;
  #empty;
  #onShow;

  constructor(list, empty, onShow) {
    this.#list = list;
    this.#empty = empty;
    this.#onShow = onShow;
  }

  replace(jobs) {
    this.#jobs.clear();
    for (const job of jobs) this.#jobs.set(job.id, job);
    this.#render();
  }

  // Events and query answers can cross: an older state never replaces a newer one.
  upsert(job) {
    const known = this.#jobs.get(job.id);
    if (known && Date.parse(known.updatedAt) > Date.parse(job.updatedAt)) return;
    this.#jobs.set(job.id, job);
    this.#render();
  }

  clear() {
    this.replace([]);
  }

  #render() {
    const newest = [...this.#jobs.values()]
      .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt))
      .slice(0, RECENT_LIMIT);
    this.#list.replaceChildren(...newest.map((job) => this.#item(job)));
    this.#empty.hidden = newest.length > 0;
  }

  #item(job) {
    const show = element("button", { className: "job-link", text: job.id.slice(0, 8) });
    show.type = "button";
    show.setAttribute("aria-label", `Show job ${job.id}`);
    show.addEventListener("click", () => this.#onShow(job));
    const status = element("span", { className: "status", text: job.status });
    status.dataset.status = job.status;
    const details = job.result ? describeImage(job.result) : job.error ? job.error.code : "";
    const created = element("time", { text: clock(job.createdAt) });
    created.dateTime = job.createdAt;
    const item = element(
      "li",
      {},
      show,
      status,
      element("span", { className: "ops", text: job.operations.join(" → ") }),
      element("span", { className: "details muted", text: details }),
      created,
    );
    item.dataset.jobId = job.id;
    item.dataset.status = job.status;
    return item;
  }
}
