// The Studies view: the tenant's studies (who, when, what), each series with its thumbnails
// and 3D snapshots as they become ready (polled while any is still being made), and a button
// to open the series in the slice viewer.

import { api } from "./api.js";
import { FINISHED, describeState } from "./states.js";
import { productsOf, pickImages } from "./products.js";

const POLL_MS = 1500;
const PAGE = 20; // studies a page asks for; "More studies" follows the API's cursor
const YOUNG_MS = 10 * 60_000; // a study this new may still get its products: keep asking
const $ = (id) => document.getElementById(id);

const shown = new Map(); // studyId -> { card, detail, products, timer }
let generation = 0; // bumped on reload, so a slow answer of an old listing draws nothing
let nextCursor = null; // the API's cursor to the older studies, while there are some

/** List the tenant's studies (newest first), each with its series and products. */
export async function loadStudies() {
  const mine = (generation += 1);
  stopPolling();
  try {
    const page = await api("GET", `/studies?limit=${PAGE}`);
    if (mine !== generation) return;
    $("study-list").replaceChildren();
    shown.clear();
    say(page.items.length ? "" : "No study yet: drop a CT study's folder or ZIP above.");
    await showPage(page, mine);
  } catch (error) {
    say(error.message, true);
  }
}

/** The next page of older studies, below those shown ("More studies"). */
export async function moreStudies() {
  const mine = generation;
  if (!nextCursor) return;
  try {
    const page = await api("GET", `/studies?limit=${PAGE}&cursor=${encodeURIComponent(nextCursor)}`);
    if (mine === generation) await showPage(page, mine);
  } catch (error) {
    say(error.message, true);
  }
}

async function showPage(page, mine) {
  nextCursor = page.nextCursor ?? null;
  $("more-studies").hidden = !nextCursor;
  const fresh = page.items.filter((item) => !shown.has(item.id));
  for (const item of fresh) addStudy(item);
  await Promise.all(fresh.map((item) => refresh(item.id, mine)));
}

export function stopPolling() {
  for (const entry of shown.values()) clearTimeout(entry.timer);
}

/** The study detail (series and products) the page holds, for the slice viewer. */
export async function studyDetail(studyId) {
  return shown.get(studyId)?.detail ?? api("GET", `/studies/${studyId}`);
}

function addStudy(item) {
  const card = $("study-card").content.firstElementChild.cloneNode(true);
  card.dataset.studyId = item.id;
  card.querySelector(".patient").textContent = patientName(item.patientName);
  card.querySelector(".patient-id").textContent = item.patientId ? `ID ${item.patientId}` : "no patient ID";
  card.querySelector(".meta").textContent = [
    studyDate(item.studyDate),
    item.studyDescription || "no description",
    item.modalities.join(", ") || "no modality",
    `${item.seriesCount} series`,
    plural(item.imageCount, "image"),
  ].join(" · ");
  $("study-list").append(card);
  shown.set(item.id, { card, detail: null, products: [], timer: null, receivedAt: Date.parse(item.receivedAt) });
}

async function refresh(studyId, mine) {
  const entry = shown.get(studyId);
  if (!entry || mine !== generation) return;
  try {
    if (!entry.detail) entry.detail = await api("GET", `/studies/${studyId}`);
    else entry.detail.products = (await api("GET", `/studies/${studyId}/products`)).items;
    if (mine !== generation) return;
    drawSeries(entry);
  } catch (error) {
    entry.card.querySelector(".message").textContent = error.message;
  }
  if (stillComing(entry)) entry.timer = setTimeout(() => refresh(studyId, mine), POLL_MS);
}

/** Whether products may still change: one not finished, or a young study without them. */
function stillComing(entry) {
  const products = entry.detail?.products ?? [];
  if (products.some((p) => !FINISHED.has(p.status))) return true;
  return products.length === 0 && Date.now() - entry.receivedAt < YOUNG_MS;
}

function drawSeries(entry) {
  const list = entry.card.querySelector(".series-list");
  const items = [];
  for (const series of entry.detail.series.filter((s) => s.imageCount > 0)) {
    const row = $("series-row").content.firstElementChild.cloneNode(true);
    row.dataset.seriesUid = series.seriesInstanceUid;
    const name = [
      series.seriesNumber != null ? `Series ${series.seriesNumber}` : "Series",
      series.seriesDescription || series.modality || "",
    ].filter(Boolean).join(": ");
    row.querySelector(".series-name").textContent = name;
    row.querySelector(".series-size").textContent =
      `${plural(series.imageCount, "image")}${series.rows ? `, ${series.columns}×${series.rows}` : ""}`;
    const open = row.querySelector(".open");
    open.href = `#/study/${entry.detail.id}/series/${series.seriesInstanceUid}`;
    open.setAttribute("aria-label", `Open ${name} in the slice viewer`);
    drawProducts(row, productsOf(entry.detail.products, series.seriesInstanceUid));
    items.push(row);
  }
  list.replaceChildren(...items);
  entry.card.dataset.products = String(entry.detail.products.length);
}

function drawProducts(row, products) {
  const strip = row.querySelector(".images");
  const states = row.querySelector(".product-states");
  const figures = [];
  const pills = [];
  for (const product of products) {
    const noun = product.kind === "preview" ? "slices" : "images";
    const state = describeState({
      status: product.status, total: product.items.total, done: product.items.done,
      failed: product.items.failed, errorCode: product.errorCode, reason: product.reason, noun,
    });
    const pill = document.createElement("span");
    pill.className = "pill";
    pill.dataset.state = state.state;
    pill.dataset.kind = product.kind;
    pill.textContent = `${KIND_NAMES[product.kind] ?? product.kind}: ${state.label}`;
    pill.title = state.detail ? `${state.line} (${state.detail})` : state.line;
    pills.push(pill);
    for (const image of pickImages(product)) figures.push(figure(product.kind, image));
  }
  states.replaceChildren(...pills);
  strip.replaceChildren(...figures);
  row.dataset.images = String(figures.length);
}

const KIND_NAMES = { preview: "Preview", thumbnails: "Thumbnails", snapshot: "3D" };

function figure(kind, image) {
  const item = document.createElement("figure");
  item.className = `thumb ${kind}`;
  const img = document.createElement("img");
  img.src = image.url;
  img.width = image.width;
  img.height = image.height;
  img.loading = "lazy";
  const caption = kind === "snapshot" ? `3D ${image.preset}` : `${image.view} ${image.preset}`;
  img.alt = caption;
  const text = document.createElement("figcaption");
  text.textContent = caption;
  item.append(img, text);
  return item;
}

function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/** DICOM PN "DOE^JANE^^^" -> "DOE, JANE". */
export function patientName(name) {
  if (!name) return "Unnamed patient";
  const [family, given, middle] = name.split("^");
  return [family, [given, middle].filter(Boolean).join(" ")].filter(Boolean).join(", ") || "Unnamed patient";
}

/** DICOM DA "20240301" -> "2024-03-01". */
export function studyDate(date) {
  if (!date || !/^\d{8}$/.test(date)) return "no date";
  return `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}`;
}

function say(message, isError = false) {
  const element = $("studies-message");
  element.textContent = message;
  element.classList.toggle("error", isError);
}
