// The Jobs view: the submit form, the tenant's jobs, and one live card per job (x of y,
// slices/s, ETA, ratio so far, one cell per slice), with each outcome said honestly.
// Every text from the server goes in through textContent, never as HTML.

import { ApiError, api, currentToken, problemText } from "./api.js";
import {
  TERMINAL_STATUSES, applyFrame, applySliceList, jobFromView, newJob, summary,
} from "./jobstate.js";
import { describeState } from "./states.js";

const LINK_FRESH_MS = 60_000; // presigned links last minutes: renew an older one on click
const $ = (id) => document.getElementById(id);

const entries = new Map(); // jobId -> { job, card, cells, link, linkAt, refreshing, listener }
let hub = null;

/** Wire the view's controls; `liveHub` is the page's notifier connection. */
export function initJobs(liveHub) {
  hub = liveHub;
  $("submit-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!currentToken()) say("submit-message", "set a token first", true);
    else submitJob(event.target);
  });
  $("refresh-jobs").addEventListener("click", () => currentToken() && loadJobs());
  $("more-jobs").addEventListener("click", () => currentToken() && nextJobs && loadJobs(nextJobs));
  const form = $("submit-form");
  form.codec.addEventListener("change", () => { // a lossless codec takes no rate
    form.rate.disabled = form.codec.value.endsWith("lossless");
  });
}

/** Forget every card (another token may be another tenant), then list this tenant's jobs. */
export function resetJobs() {
  for (const entry of entries.values()) hub.unwatch(entry.job.jobId, entry.listener);
  entries.clear();
  $("job-list").replaceChildren();
  if (currentToken()) loadJobs();
}

function follow(entry) {
  hub.watch(entry.job.jobId, entry.listener);
}

// --- jobs ----------------------------------------------------------------------------------

let nextJobs = null; // the API's cursor to older jobs, while there are some

/** The newest page of the caller's jobs, or (with `cursor`) the next older one. */
async function loadJobs(cursor = null) {
  try {
    const page = await api("GET", `/jobs?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    nextJobs = page.nextCursor ?? null;
    $("more-jobs").hidden = !nextJobs;
    for (const view of page.items) { // newest first, below any job submitted from this page
      if (entries.has(view.jobId)) continue;
      const live = !TERMINAL_STATUSES.has(view.status);
      const job = live ? newJob(view.jobId) : jobFromView(view);
      const entry = addEntry(job, describe(view.sourceUri, view.codec, view.compressionRate), false);
      if (live) follow(entry);
      else if (view.status === "completed") showDownload(entry);
      if (!live && entry.job.total) refreshSlices(entry); // light the grid of a finished job
    }
    if (!cursor) say("jobs-message", page.items.length ? "" : "no job yet");
  } catch (error) {
    say("jobs-message", error.message, true);
  }
}

async function submitJob(form) {
  const data = new FormData(form);
  const source = data.get("source").trim();
  const body = { s3SourceUri: source, s3TargetUri: data.get("target").trim() || defaultTarget(source) };
  if (data.get("rate")) body.compressionRate = Number(data.get("rate"));
  if (data.get("codec")) body.codec = data.get("codec");
  if (data.get("anonymize")) body.anonymize = true;
  try {
    const accepted = await api("POST", "/jobs", body);
    say("submit-message", `job ${accepted.jobId} queued; the ZIP will be ${accepted.artifactUri}`);
    const { codec, compressionRate } = accepted.options ?? {};
    follow(addEntry(newJob(accepted.jobId), describe(source, codec, compressionRate), true));
  } catch (error) {
    say("submit-message", error.message, true);
  }
}

/** "s3://… · j2k-lossy · rate 10": what a card says the job does. */
function describe(source, codec, rate) {
  return [source, codec, rate ? `rate ${rate}` : null].filter(Boolean).join(" · ");
}

/** results/ beside the source: under its bucket's first folder (the tenant's own prefix). */
function defaultTarget(source) {
  const match = /^s3:\/\/([^/]+)\/(?:([^/]+)\/)?/.exec(source);
  if (!match) return "";
  return match[2] ? `s3://${match[1]}/${match[2]}/results/` : `s3://${match[1]}/results/`;
}

function addEntry(job, description, onTop) {
  const card = $("job-card").content.firstElementChild.cloneNode(true);
  card.dataset.jobId = job.jobId;
  card.querySelector(".job-id").textContent = job.jobId;
  card.querySelector(".source").textContent = description ?? "";
  const entry = { job, card, cells: [], link: null, linkAt: 0, refreshing: false };
  entry.listener = { since: () => entry.job.lastSeq, onFrame: (frame) => onFrame(entry, frame) };
  card.querySelector(".cancel").addEventListener("click", () => cancelJob(entry));
  card.querySelector(".download").addEventListener("click", (event) => renewLink(entry, event));
  entries.set(job.jobId, entry);
  if (onTop) $("job-list").prepend(card);
  else $("job-list").append(card);
  say("jobs-message", "");
  render(entry);
  return entry;
}

function onFrame(entry, frame) {
  if (frame.op === "error") {
    say(entry.card.querySelector(".reason"), `${frame.code}: ${frame.message}`, true);
    if (frame.code === "not-found") hub.unwatch(frame.job_id, entry.listener);
    return;
  }
  if (!applyFrame(entry.job, frame)) return;
  if (entry.job.needsSlices) refreshSlices(entry);
  if (TERMINAL_STATUSES.has(entry.job.status)) {
    hub.unwatch(entry.job.jobId, entry.listener);
    if (entry.job.status === "completed") showDownload(entry);
  }
  render(entry);
}

/** After a snapshot (which counts slices without naming them), name them from the API. */
async function refreshSlices(entry) {
  if (entry.refreshing) return;
  entry.refreshing = true;
  try {
    const list = await api("GET", `/jobs/${entry.job.jobId}/slices`);
    applySliceList(entry.job, list.slices);
    render(entry);
  } catch (error) {
    say(entry.card.querySelector(".reason"), error.message, true);
  } finally {
    entry.refreshing = false;
  }
}

async function cancelJob(entry) {
  const button = entry.card.querySelector(".cancel");
  button.disabled = true;
  try {
    await api("POST", `/jobs/${entry.job.jobId}/cancel`, { reason: "cancelled from the viewer" });
    say(entry.card.querySelector(".reason"), "cancel requested");
  } catch (error) {
    say(entry.card.querySelector(".reason"), error.message, true);
    button.disabled = false;
  }
}

// --- download ------------------------------------------------------------------------------

/**
 * A link to the job's ZIP. GET /jobs/{id}/download?format=json answers {url} (a presigned
 * URL); an API that only redirects makes fetch follow to the ZIP itself, which becomes a blob
 * link. 409 means the projection has not caught up with the completion yet: ask again.
 */
async function downloadLink(jobId) {
  const headers = { Authorization: `Bearer ${currentToken()}` };
  for (let attempt = 1; attempt <= 20; attempt += 1) {
    const response = await fetch(`/jobs/${jobId}/download?format=json`, { headers });
    if (response.status === 409) {
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      continue;
    }
    if (!response.ok) {
      throw new ApiError(response.status, problemText(response.status, await response.json().catch(() => null)));
    }
    if ((response.headers.get("Content-Type") ?? "").includes("json")) {
      const body = await response.json();
      if (typeof body?.url === "string") return body.url;
    }
    return URL.createObjectURL(await response.blob());
  }
  throw new ApiError(409, "the job completed but its ZIP is not downloadable yet; reload later");
}

async function showDownload(entry) {
  try {
    entry.link = await downloadLink(entry.job.jobId);
    entry.linkAt = Date.now();
    render(entry);
  } catch (error) {
    say(entry.card.querySelector(".reason"), error.message, true);
  }
}

function renewLink(entry, event) {
  if (entry.link?.startsWith("blob:") || Date.now() - entry.linkAt < LINK_FRESH_MS) return;
  event.preventDefault();
  downloadLink(entry.job.jobId).then((url) => {
    entry.link = url;
    entry.linkAt = Date.now();
    render(entry);
    location.assign(url);
  }, (error) => say(entry.card.querySelector(".reason"), error.message, true));
}

// --- rendering -----------------------------------------------------------------------------

function render(entry) {
  const { job, card } = entry;
  const figures = summary(job);
  const total = figures.total ?? "?";
  const failed = figures.failed ? `, ${figures.failed} failed` : "";
  const state = describeState({
    status: job.status, total: figures.total, done: figures.done, failed: figures.failed,
    errorCode: job.errorCode, reason: job.reason,
  });
  text(card, ".status", state.label);
  card.querySelector(".status").dataset.state = state.state;
  card.dataset.state = state.state;
  text(card, ".counts", `${figures.done} of ${total} slices${failed}`);
  text(card, ".speed", figures.rate === null ? "–" : `${figures.rate.toFixed(1)} slices/s`);
  text(card, ".eta", figures.eta === null ? "–" : `${Math.ceil(figures.eta)} s`);
  text(card, ".ratio", figures.ratio ? `${figures.ratio.toFixed(1)}:1` : "–");
  card.querySelector(".bar").value = figures.share;
  const lit = renderGrid(entry);
  card.querySelector(".cancel").hidden = figures.finished;
  if (figures.finished) showOutcome(card, state);
  const download = card.querySelector(".download");
  download.hidden = !entry.link;
  if (entry.link) download.href = entry.link;
  Object.assign(card.dataset, {
    status: job.status,
    lastSeq: job.lastSeq,
    applied: job.applied,
    duplicates: job.duplicates,
    skipped: job.skipped,
    relit: job.relit,
    gaps: job.gaps,
    lit,
    done: figures.done,
    total: figures.total ?? "",
  });
}

/** One cell per slice; returns how many are lit as encoded. */
function renderGrid(entry) {
  const { job, cells } = entry;
  const grid = entry.card.querySelector(".grid");
  while (job.total !== null && cells.length < job.total) {
    const cell = document.createElement("span");
    cell.className = "cell";
    cell.title = `slice ${cells.length}`;
    cells.push(cell);
    grid.append(cell);
  }
  let lit = 0;
  cells.forEach((cell, index) => {
    const state = job.ok.has(index) ? "ok" : job.failed.has(index) ? "failed" : "";
    if (state === "ok") lit += 1;
    if (cell.dataset.state !== state) {
      cell.dataset.state = state;
      cell.className = state ? `cell ${state}` : "cell";
    }
  });
  return lit;
}

/** The outcome in words, the technical detail folded away. */
function showOutcome(card, state) {
  say(card.querySelector(".reason"), state.line, state.state === "failed");
  const fold = card.querySelector(".detail");
  fold.hidden = !state.detail;
  text(fold, "pre", state.detail ?? "");
}

function text(root, selector, value) {
  const element = root.querySelector(selector);
  if (element.textContent !== value) element.textContent = value;
}

function say(target, message, isError = false) {
  const element = typeof target === "string" ? $(target) : target;
  element.textContent = message;
  element.classList.toggle("error", isError);
}

