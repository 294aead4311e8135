// The slice viewer: one series' preview, decoded in the browser, slice by slice as the preview
// job encodes them. Scroll (wheel, keys, slider, touch), window/level (presets, drag), zoom and
// pan, the slice index and position, orientation markers, and a strip showing which slices are
// ready. The canvas holds the slice at its own resolution (what it shows is exactly the
// windowed pixels); zoom and pan are a CSS transform of it.

import { api } from "./api.js";
import { bindGestures } from "./gestures.js";
import { initMiniCt, refreshMarks, resetMiniCt, roiGesture, setEdge } from "./minict.js";
import { markers } from "./orient.js";
import { previewOf } from "./products.js";
import { SliceStack } from "./series.js";
import { FINISHED, describeState } from "./states.js";
import { automaticWindow, paint, windowTable } from "./window.js";

export const PRESETS = [
  { name: "Soft tissue", center: 40, width: 400 },
  { name: "Lung", center: -600, width: 1500 },
  { name: "Bone", center: 400, width: 1800 },
  { name: "Brain", center: 40, width: 80 },
];
const $ = (id) => document.getElementById(id);

let hub = null;
let view = null; // the open series

export function initSliceView(liveHub) {
  hub = liveHub;
  const stage = $("stage");
  bindGestures(stage, {
    step: (n) => view && show(view.index + n),
    to: (edge) => view && show(edge === Infinity ? view.stack.counts().total - 1 : 0),
    windowBy: (dx, dy) => view?.window && setWindow(view.window.center + dy * windowSpeed(), Math.max(1, view.window.width + dx * windowSpeed())),
    panBy: (dx, dy) => view && transform(() => { view.panX += dx; view.panY += dy; }),
    zoomBy: (f) => view && transform(() => { view.zoom = Math.min(16, Math.max(0.5, view.zoom * f)); }),
    reset: () => view && transform(() => Object.assign(view, { zoom: 1, panX: 0, panY: 0 })),
    tool: () => document.querySelector("input[name=tool]:checked")?.value ?? "scroll",
    roi: (phase, x, y) => view && roiGesture(phase, x, y),
    mark: (edge) => view && setEdge(edge),
  });
  initMiniCt(hub, () => view && {
    studyId: view.studyId, seriesUid: view.seriesUid, index: view.index, total: view.stack?.counts().total ?? 0,
    product: view.product, width: view.size?.width ?? 0, height: view.size?.height ?? 0,
    pixelSpacing: view.pixelSpacing, sliceSpacing: view.sliceSpacing,
  });
  $("slice-slider").addEventListener("input", (event) => view && show(Number(event.target.value)));
  // full resolution on demand: the series' unbinned preview (asked for the first time it is
  // wanted), shown slice by slice as it is encoded, like the binned one
  $("full-resolution").addEventListener("change", (event) => {
    if (view) openSeries(view.studyId, view.seriesUid, { full: event.target.checked });
  });
  $("window-preset").addEventListener("change", (event) => {
    const [center, width] = event.target.value.split("/").map(Number);
    if (view && Number.isFinite(center)) setWindow(center, width);
  });
  $("zoom-in").addEventListener("click", () => view && transform(() => { view.zoom = Math.min(16, view.zoom * 1.25); }));
  $("zoom-out").addEventListener("click", () => view && transform(() => { view.zoom = Math.max(0.5, view.zoom * 0.8); }));
  $("zoom-reset").addEventListener("click", () => view && transform(() => Object.assign(view, { zoom: 1, panX: 0, panY: 0 })));
  new ResizeObserver(() => view && layout()).observe(stage);
}

/** Open the series' preview (`full`: its unbinned one); `detail` is GET /studies/{id}. */
export async function openSeries(studyId, seriesUid, { full = false } = {}) {
  closeSeries();
  $("full-resolution").checked = full;
  const opened = performance.now();
  view = {
    studyId, seriesUid, opened, stack: null, index: 0, window: null, table: null, tableKey: "",
    zoom: 1, panX: 0, panY: 0, lastSeq: -1, listener: null, product: null, drawScheduled: false,
    size: null,
  };
  const mine = view;
  resetPanel();
  resetMiniCt(`${studyId}/${seriesUid}`);
  try {
    const detail = await api("GET", `/studies/${studyId}`);
    if (view !== mine) return;
    const series = detail.series.find((s) => s.seriesInstanceUid === seriesUid);
    // the original series' geometry (mm), for the Mini CT's box and range in real sizes
    view.pixelSpacing = series?.pixelSpacing ?? null;
    view.sliceSpacing = series?.spacing?.mean ?? null;
    $("series-title").textContent = series
      ? [series.seriesNumber != null ? `Series ${series.seriesNumber}` : "Series", series.seriesDescription].filter(Boolean).join(": ")
      : "Series";
    $("back-to-study").href = "#/studies";
    let preview = previewOf(detail.products, seriesUid, { full });
    if (!preview) {
      say(full ? "Asking for the full-resolution slices…" : "This series has no preview yet: asking for one…");
      const wanted = full ? { kind: "preview", bin_xy: 1 } : { kind: "preview" };
      const answer = await api("POST", `/studies/${studyId}/products`, { products: [wanted], series: [seriesUid] });
      preview = answer.items.find((p) => p.kind === "preview");
    }
    if (view !== mine) return;
    follow(preview);
  } catch (error) {
    say(error.message, true);
  }
}

export function closeSeries() {
  if (!view) return;
  view.stack?.close();
  if (view.listener) hub.unwatch(view.product.id, view.listener);
  view = null;
  resetMiniCt(null);
}

function follow(product) {
  view.product = product;
  view.stack = new SliceStack(product.id, (index) => changed(index));
  view.stack.setTotal(product.items.total);
  showProduct(product.status, product.errorCode, product.reason);
  if (!FINISHED.has(product.status)) {
    view.listener = { since: () => view?.lastSeq ?? -1, onFrame: (frame) => onFrame(frame) };
    hub.watch(product.id, view.listener);
  }
  view.stack.refreshList().catch((error) => say(error.message, true));
}

function onFrame(frame) {
  if (!view || frame.job_id !== view.product.id) return;
  if (frame.op === "event") {
    if (frame.seq <= view.lastSeq) return;
    view.lastSeq = frame.seq;
    const event = frame.event;
    if (event.total_slices) view.stack.setTotal(event.total_slices);
    if (event.type === "SliceEncoded") view.stack.encoded(event.slice_index, event.position_along_normal);
    else if (event.type === "SliceFailed") view.stack.failed(event.slice_index, "this slice could not be made");
    else if (event.type === "JobCompleted") showProduct("completed");
    else if (event.type === "JobFailed") showProduct("failed", event.error_code, event.reason);
    else if (event.type === "JobCancelled") showProduct("cancelled", null, event.reason);
    if (FINISHED_EVENTS.has(event.type)) view.stack.refreshList().catch(() => {});
  } else if (frame.op === "snapshot" || frame.op === "progress") {
    view.lastSeq = Math.max(view.lastSeq, frame.seq ?? -1);
    view.stack.refreshList().catch(() => {});
  }
}

const FINISHED_EVENTS = new Set(["JobCompleted", "JobFailed", "JobCancelled"]);

function showProduct(status, errorCode, reason) {
  view.status = status;
  view.errorCode = errorCode;
  view.reason = reason;
  counts();
}

/** A slot changed (or, for null, the total): redraw what depends on it. */
function changed(index) {
  const { total } = view.stack.counts();
  if (index === null || $("slice-strip").childElementCount !== total) buildStrip(total);
  else paintCell(index);
  const slot = index === null ? null : view.stack.slots[index];
  if (slot?.state === "ready" && !view.window) firstImage(slot.image);
  if (index === null || index === view.index) scheduleDraw();
  counts();
}

function firstImage(image) {
  const own = image.windows[0] ?? automaticWindow(image.samples, image.slope, image.intercept);
  const select = $("window-preset");
  const options = [
    ...image.windows.map((w, i) => ({ name: `From the image${image.windows.length > 1 ? ` ${i + 1}` : ""}`, ...w })),
    ...PRESETS,
  ].map(({ name, center, width }) => new Option(`${name} (W ${width} L ${center})`, `${center}/${width}`));
  select.replaceChildren(new Option("Custom", "custom"), ...options);
  const orient = markers(image.orientation);
  for (const edge of ["top", "bottom", "left", "right"]) $(`marker-${edge}`).textContent = orient?.[edge] ?? "";
  setWindow(own.center, own.width);
}

function show(index) {
  const { total } = view.stack.counts();
  const clamped = Math.max(0, Math.min(total - 1, Math.round(index)));
  if (clamped === view.index && index === clamped) return;
  view.index = clamped;
  view.stack.focus(clamped);
  scheduleDraw();
}

function setWindow(center, width) {
  view.window = { center: Math.round(center), width: Math.round(width) };
  const value = `${view.window.center}/${view.window.width}`;
  const select = $("window-preset");
  select.value = [...select.options].some((o) => o.value === value) ? value : "custom";
  $("window-readout").textContent = `W ${view.window.width} L ${view.window.center}`;
  scheduleDraw();
}

/** Window drag speed: a window width of modality units over about 400 px. */
function windowSpeed() {
  return Math.max(1, (view.window?.width ?? 400) / 400);
}

function scheduleDraw() {
  if (view.drawScheduled) return;
  view.drawScheduled = true;
  requestAnimationFrame(() => {
    if (!view) return;
    view.drawScheduled = false;
    draw();
  });
}

function draw() {
  const stage = $("stage");
  const canvas = $("slice-canvas");
  const slot = view.stack.slots[view.index];
  const { total } = view.stack.counts();
  $("slice-slider").max = String(Math.max(0, total - 1));
  $("slice-slider").value = String(view.index);
  const position = slot?.position != null ? ` · position ${slot.position.toFixed(1)} mm` : "";
  $("slice-readout").textContent = `Slice ${view.index + 1} of ${total || "?"}${position}`;
  stage.dataset.index = String(view.index);
  refreshMarks();
  document.querySelectorAll("#slice-strip .current").forEach((cell) => cell.classList.remove("current"));
  $("slice-strip").children[view.index]?.classList.add("current");
  if (slot?.state !== "ready" || !view.window) {
    const what = slot?.state === "failed" ? slot.error
      : !slot || slot.state === "pending" ? "not made yet: it appears as soon as it is encoded"
        : "encoded, loading…";
    $("slice-pending").textContent = `Slice ${view.index + 1}: ${what}`;
    $("slice-pending").hidden = false;
    stage.dataset.drawn = "";
    return;
  }
  $("slice-pending").hidden = true;
  const image = slot.image;
  if (canvas.width !== image.width || canvas.height !== image.height) {
    canvas.width = image.width;
    canvas.height = image.height;
    view.size = image;
    layout();
  }
  const invert = image.photometric === "MONOCHROME1";
  const key = [view.window.center, view.window.width, image.slope, image.intercept, image.bitsStored, image.signed, invert].join();
  if (key !== view.tableKey) {
    view.table = windowTable({ ...image, invert }, view.window.center, view.window.width);
    view.tableKey = key;
  }
  const context = canvas.getContext("2d");
  const frame = context.createImageData(image.width, image.height);
  paint(image.samples, view.table, frame.data);
  context.putImageData(frame, 0, 0);
  Object.assign(stage.dataset, {
    drawn: String(view.index),
    sop: image.sopInstanceUid ?? "",
    windowCenter: String(view.window.center),
    windowWidth: String(view.window.width),
    draws: String(Number(stage.dataset.draws ?? 0) + 1),
  });
  if (!stage.dataset.firstDrawMs) stage.dataset.firstDrawMs = (performance.now() - view.opened).toFixed(0);
}

/** Fit the canvas in the stage with the slice's true aspect (pixel spacing), then zoom/pan. */
function layout() {
  if (!view?.size) return;
  const stage = $("stage");
  const { width, height, pixelSpacing } = view.size;
  const [rowSpacing, columnSpacing] = pixelSpacing?.length === 2 ? pixelSpacing : [1, 1];
  const aspect = (width * columnSpacing) / (height * rowSpacing);
  const box = stage.getBoundingClientRect();
  const fitWidth = Math.min(box.width, box.height * aspect);
  const canvas = $("slice-canvas");
  canvas.style.width = `${fitWidth}px`;
  canvas.style.height = `${fitWidth / aspect}px`;
  transform(() => {});
}

function transform(change) {
  change();
  $("slice-canvas").style.transform = `translate(${view.panX}px, ${view.panY}px) scale(${view.zoom})`;
  $("stage").dataset.zoom = view.zoom.toFixed(2);
  refreshMarks();
}

function buildStrip(total) {
  const strip = $("slice-strip");
  const cells = [];
  for (let i = 0; i < total; i += 1) {
    const cell = document.createElement("span");
    cell.className = "cell";
    cells.push(cell);
  }
  strip.replaceChildren(...cells);
  view.stack.slots.forEach((_, index) => paintCell(index));
}

function paintCell(index) {
  const cell = $("slice-strip").children[index];
  const state = view.stack.slots[index]?.state ?? "pending";
  if (cell && cell.dataset.state !== state) {
    cell.dataset.state = state;
    cell.title = `slice ${index + 1}: ${state}`;
  }
}

function counts() {
  const { ready, encoded, failed, total } = view.stack?.counts() ?? { ready: 0, encoded: 0, failed: 0, total: 0 };
  const status = view.status ?? "queued";
  const made = encoded + failed;
  const state = describeState({
    status: status === "queued" && made ? "running" : status,
    total: total || null, done: encoded, failed, errorCode: view.errorCode, reason: view.reason,
  });
  const line = $("preview-state");
  line.dataset.state = state.state;
  line.textContent = FINISHED.has(status) ? state.line : `${encoded} of ${total || "?"} slices ready`;
  const detail = $("preview-detail");
  detail.hidden = !state.detail;
  detail.querySelector("pre").textContent = state.detail ?? "";
  Object.assign($("stage").dataset, { ready: String(ready), encoded: String(encoded), total: String(total), status });
}

function resetPanel() {
  const stage = $("stage");
  for (const key of ["drawn", "firstDrawMs", "draws", "sop", "windowCenter", "windowWidth", "ready", "encoded", "total"]) delete stage.dataset[key];
  $("slice-strip").replaceChildren();
  $("slice-pending").hidden = false;
  $("slice-pending").textContent = "Loading the series…";
  $("preview-state").textContent = "";
  $("slice-readout").textContent = "";
  $("window-readout").textContent = "";
  for (const edge of ["top", "bottom", "left", "right"]) $(`marker-${edge}`).textContent = "";
  const canvas = $("slice-canvas");
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  say("");
}

function say(message, isError = false) {
  const element = $("viewer-message");
  element.textContent = message;
  element.classList.toggle("error", isError);
}
