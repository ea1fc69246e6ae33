// What the page shows of jobs: the one being watched and the recent list. Server data
// only ever lands in textContent, attributes and vetted URLs, never in markup.

import { decode as decodeBlurhash, isBlurhashValid } from "./blurhash-2.0.5.js";

const RECENT_LIMIT = 10;
const PLACEHOLDER_SIDE = 32; // BlurHash is a few cosines: 32 pixels, stretched by CSS
const COLOR = /^#[0-9a-f]{6}$/;
const VIEW_IDS = [
  "current", "job-id", "job-status", "timeline", "job-operations", "job-failure",
  "result", "result-image", "result-info", "result-link", "analysis", "placeholder", "colors",
  "outputs", "progress", "output-list", "srcset-line", "srcset-value", "skipped-widths",
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
    this.#el.analysis.hidden = true;
    this.#el.placeholder.hidden = true;
    this.#el.colors.replaceChildren();
    this.#el.outputs.hidden = true;
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
    this.#showAnalysis(job);
    this.#showResult(job.result);
    this.#showOutputs(job);
  }

  // The placeholder stands in for the picture while the job runs: the worker stores the
  // analysis right after decoding, before any output is made.
  #showAnalysis(job) {
    const analysis = job.analysis;
    if (!analysis) return;
    this.#el.analysis.hidden = false;
    this.#el.placeholder.hidden = Boolean(job.result) || !isBlurhashValid(analysis.blurhash).result;
    if (!this.#el.placeholder.hidden) this.#paint(analysis.blurhash, job.source);
    const swatches = analysis.dominantColors.filter((c) => COLOR.test(c)).map((color) => {
      const swatch = element("li", { className: "swatch", text: color });
      swatch.style.setProperty("--swatch", color);
      return swatch;
    });
    this.#el.colors.replaceChildren(...swatches);
  }

  #paint(blurhash, source) {
    const canvas = this.#el.placeholder;
    const aspect = source ? source.width / source.height : 1;
    canvas.width = PLACEHOLDER_SIDE;
    canvas.height = Math.max(1, Math.round(PLACEHOLDER_SIDE / aspect));
    const pixels = decodeBlurhash(blurhash, canvas.width, canvas.height);
    const context = canvas.getContext("2d");
    const image = context.createImageData(canvas.width, canvas.height);
    image.data.set(pixels);
    context.putImageData(image, 0, 0);
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

  // A job with variants or a srcset: each output as it is stored, with its size and
  // format, the progress, and the ready srcset attribute.
  #showOutputs(job) {
    const outputs = job.outputs ?? [];
    const several = outputs.length > 1 || outputs.some((output) => output.name !== "default");
    this.#el.outputs.hidden = !several;
    if (!several) return;
    this.#el.progress.textContent = `${job.progress.done} of ${job.progress.total} stored`;
    this.#el["output-list"].replaceChildren(...outputs.map((output) => outputItem(output)));
    this.#el["srcset-value"].textContent = job.srcset ?? "";
    this.#el["srcset-line"].hidden = !job.srcset;
    const skipped = job.skippedWidths ?? [];
    this.#el["skipped-widths"].textContent = skipped.length
      ? `Skipped (wider than the image, never upscaled): ${skipped.join(", ")}`
      : "";
    this.#el["skipped-widths"].hidden = skipped.length === 0;
  }
}

function outputItem(output) {
  const name = element("strong", { text: output.name });
  const item = element("li", {}, name, " ");
  item.dataset.output = output.name;
  const url = output.image ? webUrl(output.image.url) : null;
  if (!url) {
    item.append(element("span", { className: "muted", text: "waiting…" }));
    return item;
  }
  const link = element("a", { text: describeImage(output.image) });
  link.href = url;
  link.download = "";
  item.append(link);
  item.dataset.stored = "true";
  return item;
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
