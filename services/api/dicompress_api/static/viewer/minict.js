// The slice viewer's Mini CT mode: mark the first and last slice of a range (shown on the
// slider), draw a box on the image (or type it), and ask for that region of the ORIGINAL series
// (the preview's slices and pixels mapped back through its bin factors). The job is followed
// over the notifier with a progress bar; once made, asking again answers with a short-lived
// download URL.

import { api } from "./api.js";
import { TERMINAL_STATUSES, applyFrame, newJob } from "./jobstate.js";
import {
  binsOf, boxBetween, boxInMm, boxToOriginal, boxToPreview, miniCtBody, pixelAt, rangeInMm, rangeToOriginal,
} from "./roi.js";
import { describeState } from "./states.js";

const $ = (id) => document.getElementById(id);
const CHECK_MS = 4000; // ask the API again this often while waiting, in case a frame is missed
const ROI_FIELDS = ["row", "column", "rows", "columns"];

let hub = null;
let current = () => null; // the slice viewer's open series: {studyId, seriesUid, index, total, product, width, height}
let mark = null; // this series' range and box, and the request being followed

/** liveHub: the page's notifier; view(): the open series as above, or null. */
export function initMiniCt(liveHub, view) {
  hub = liveHub;
  current = view;
  $("minict-set-start").addEventListener("click", () => setEdge("start"));
  $("minict-set-end").addEventListener("click", () => setEdge("end"));
  $("minict-request").addEventListener("click", () => request());
  $("roi-clear").addEventListener("click", () => setRoi(null));
  for (const name of ROI_FIELDS) $(`roi-${name}`).addEventListener("change", () => roiTyped());
}

/** A series was opened (or closed, with null): forget the previous one's marks. */
export function resetMiniCt(seriesKey) {
  stopFollowing();
  mark = seriesKey ? { key: seriesKey, start: null, end: null, roi: null, drag: null, job: null } : null;
  for (const name of ROI_FIELDS) $(`roi-${name}`).value = "";
  $("minict-bar").hidden = true;
  $("minict-download").hidden = true;
  say("", "idle");
  refreshMarks();
}

/** Mark the slice on screen as the first ("start") or last ("end") of the range. */
export function setEdge(edge) {
  const view = current();
  if (!mark || !view) return;
  mark[edge] = view.index;
  refreshMarks();
}

/** Pointer input of the "draw ROI" tool: phase start, move or end, at a point of the page. */
export function roiGesture(phase, x, y) {
  const view = current();
  if (!mark || !view?.width) return;
  const at = pixelAt(x, y, $("slice-canvas").getBoundingClientRect(), view.width, view.height);
  if (phase === "start") mark.drag = at;
  if (!mark.drag) return;
  const box = boxBetween(mark.drag, at, view.width, view.height);
  mark.roi = boxToOriginal(box, binsOf(view.product).xy);
  if (phase === "end") mark.drag = null;
  showRoiFields();
  refreshMarks();
}

/** Redraw what depends on the view: the box over the image, the range on the slider. */
export function refreshMarks() {
  drawBox();
  drawRange();
}

function setRoi(roi) {
  if (!mark) return;
  mark.roi = roi;
  showRoiFields();
  refreshMarks();
}

function showRoiFields() {
  for (const name of ROI_FIELDS) $(`roi-${name}`).value = mark.roi ? String(mark.roi[name]) : "";
}

function roiTyped() {
  if (!mark) return;
  const values = ROI_FIELDS.map((name) => $(`roi-${name}`).value.trim());
  if (values.some((v) => v === "")) return; // not all four yet
  const [row, column, rows, columns] = values.map(Number);
  mark.roi = { row, column, rows, columns };
  refreshMarks();
}

function drawBox() {
  const element = $("roi-box");
  const view = current();
  drawBoxSize(view);
  if (!mark?.roi || !view?.width) {
    element.hidden = true;
    return;
  }
  const box = boxToPreview(mark.roi, binsOf(view.product).xy);
  const canvas = $("slice-canvas").getBoundingClientRect();
  const stage = $("stage").getBoundingClientRect();
  const sx = canvas.width / view.width;
  const sy = canvas.height / view.height;
  Object.assign(element.style, {
    left: `${canvas.left - stage.left + box.column * sx}px`,
    top: `${canvas.top - stage.top + box.row * sy}px`,
    width: `${box.columns * sx}px`,
    height: `${box.rows * sy}px`,
  });
  element.hidden = false;
  const { row, column, rows, columns } = mark.roi;
  Object.assign(element.dataset, { row, column, rows, columns });
}

/** The box's size said in pixels of the original series and, with its spacing, in mm. */
function drawBoxSize(view) {
  const text = $("roi-size");
  if (!mark?.roi) {
    text.textContent = "Whole slices";
    return;
  }
  const { rows, columns } = mark.roi;
  const mm = boxInMm(mark.roi, view?.pixelSpacing);
  text.textContent = `Box ${columns} × ${rows} pixels` +
    (mm ? ` = ${mm[0].toFixed(1)} × ${mm[1].toFixed(1)} mm (width × height)` : "");
}

function drawRange() {
  const band = $("minict-band");
  const view = current();
  const text = $("minict-range");
  if (!mark || !view?.total) {
    band.hidden = true;
    text.textContent = "";
    return;
  }
  const last = Math.max(1, view.total - 1);
  const start = mark.start ?? mark.end;
  const end = mark.end ?? mark.start;
  if (start == null) {
    band.hidden = true;
    text.textContent = "No range yet: go to the first slice and press “Set start”, then to the last and press “Set end”.";
    return;
  }
  const [low, high] = start <= end ? [start, end] : [end, start];
  const fill = band.firstElementChild;
  fill.style.left = `${(low / last) * 100}%`;
  fill.style.width = `max(3px, ${((high - low) / last) * 100}%)`;
  band.hidden = false;
  const { zStart, zEnd } = rangeToOriginal(low, high, binsOf(view.product).z);
  const shown = low === high ? `slice ${low + 1}` : `slices ${low + 1} to ${high + 1}`;
  const original = zStart === low && zEnd === high ? "" : ` (original slices ${zStart + 1} to ${zEnd + 1})`;
  const length = rangeInMm(zStart, zEnd, view.sliceSpacing);
  const extent = length === null || zStart === zEnd ? "" : `, ${length.toFixed(1)} mm from first to last`;
  text.textContent = `Range: ${shown}${original}, ${zEnd - zStart + 1} slices${extent}` +
    (mark.start == null || mark.end == null ? ` — set the ${mark.start == null ? "start" : "end"} too, or this is one slice` : "");
  Object.assign($("minict").dataset, { zStart, zEnd });
}

async function request() {
  const view = current();
  if (!mark || !view) return;
  const start = mark.start ?? mark.end;
  if (start == null) {
    say("Set the start and end slices first (the buttons above, at the slice shown).", "failed");
    return;
  }
  if (mark.roi && ROI_FIELDS.some((name) => !Number.isInteger(mark.roi[name]))) {
    say("The box needs whole pixel numbers.", "failed");
    return;
  }
  const { zStart, zEnd } = rangeToOriginal(start, mark.end ?? start, binsOf(view.product).z);
  const body = miniCtBody({
    zStart, zEnd, roi: mark.roi,
    format: $("minict-format").value, quality: $("minict-quality").value,
    downsample: Number($("minict-downsample").value),
  });
  stopFollowing();
  $("minict-download").hidden = true;
  const target = { key: mark.key, url: `/studies/${view.studyId}/series/${view.seriesUid}/mini-ct`, body };
  mark.request = target;
  say("Asking for the Mini CT…", "queued");
  try {
    answered(target, await api("POST", target.url, body));
  } catch (error) {
    if (mark?.request !== target) return;
    const why = error.status === 422 ? `This region cannot be made: ${error.message}.` : `The request failed: ${error.message}.`;
    say(why.replace(/\.\.$/, "."), "failed");
  }
}

/** An answer of POST …/mini-ct: made (a download URL), over without it, or being made. */
function answered(target, answer) {
  if (mark?.request !== target) return; // another series or another request since
  const job = mark.job?.jobId === answer.id ? mark.job : newJob(answer.id);
  mark.job = job;
  $("minict").dataset.job = answer.id;
  if (answer.status === "completed" && answer.downloadUrl) {
    stopFollowing();
    showDownload(answer);
    return;
  }
  if (TERMINAL_STATUSES.has(answer.status)) {
    stopFollowing();
    const state = describeState({ status: answer.status, errorCode: answer.errorCode, reason: answer.reason });
    say(`The Mini CT was not made. ${state.line}`, state.state);
    return;
  }
  if (!mark.listener) follow(target, job);
  progress(job);
  // the events said it is over but the index has not caught up yet: ask again shortly
  if (TERMINAL_STATUSES.has(job.status)) setTimeout(() => askAgain(target), 500);
}

function follow(target, job) {
  mark.listener = {
    since: () => job.lastSeq,
    onFrame: (frame) => {
      if (mark?.job !== job || !applyFrame(job, frame)) return;
      progress(job);
      if (TERMINAL_STATUSES.has(job.status)) askAgain(target);
    },
  };
  hub.watch(job.jobId, mark.listener);
  mark.timer = setInterval(() => askAgain(target), CHECK_MS);
}

async function askAgain(target) {
  try {
    answered(target, await api("POST", target.url, target.body));
  } catch (error) {
    if (mark?.request === target) say(`Could not ask how the Mini CT is going: ${error.message}`, "failed");
  }
}

function stopFollowing() {
  if (!mark) return;
  clearInterval(mark.timer);
  if (mark.listener && mark.job) hub.unwatch(mark.job.jobId, mark.listener);
  mark.listener = null;
  mark.timer = null;
}

function progress(job) {
  const done = job.ok.size + job.unnamedOk;
  const bar = $("minict-bar");
  bar.hidden = false;
  bar.max = job.total || 1;
  bar.value = job.total ? done : 0;
  if (job.status === "completed") {
    bar.value = bar.max;
    say("Made: getting its download link…", "running");
  } else {
    say(job.total ? `Making the Mini CT: ${done} of ${job.total} slices.` : "Waiting to start…", job.status === "queued" ? "queued" : "running");
  }
}

function showDownload(answer) {
  const bar = $("minict-bar");
  bar.hidden = false;
  bar.max = 1;
  bar.value = 1;
  const link = $("minict-download");
  const multiframe = answer.params?.format === "multiframe";
  const size = answer.artifactBytes ? `, ${bytesText(answer.artifactBytes)}` : "";
  link.href = answer.downloadUrl;
  link.textContent = `Download the Mini CT (${multiframe ? "multi-frame DICOM" : "ZIP of slices"}${size})`;
  link.hidden = false;
  const { region } = answer;
  const box = region.roi ? `${region.roi.columns} x ${region.roi.rows} pixels` : "whole slices";
  say(`Ready: ${region.slices} slices (${region.zStart + 1} to ${region.zEnd + 1}), ${box}. The link works for a short while; ask again for a new one.`, "completed");
}

function bytesText(bytes) {
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(bytes / 1e3))} KB`;
}

function say(message, state) {
  const line = $("minict-state");
  line.textContent = message;
  line.dataset.state = state;
  $("minict").dataset.state = state;
}
