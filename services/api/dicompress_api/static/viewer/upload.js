// Upload from the page: a dropped folder (zipped here), a ZIP, or DICOM files, sent by
// presigned multipart straight to S3 with a progress bar; then the ingest is followed until
// the study is indexed. An interrupted upload resumes: the upload id is kept in localStorage
// under the file's name, size and date, and choosing the same file again sends only the parts
// S3 lacks (GET /uploads/{id}).

import { ApiError, api } from "./api.js";
import { zipFiles } from "./zip.js";

const RESUME_PREFIX = "dicompress.upload:";
const INGEST_POLL_MS = 500;
const INGEST_UNKNOWN_MS = 60_000; // how long an ingest may stay unprojected (404) before we give up
const $ = (id) => document.getElementById(id);

let onIndexed = () => {};
let busy = false;

/** Wire the drop zone and the file inputs; `indexed()` is called once a study is indexed. */
export function initUpload(indexed) {
  onIndexed = indexed;
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    upload(await droppedFiles(event.dataTransfer));
  });
  for (const id of ["file-input", "folder-input"]) {
    $(id).addEventListener("change", (event) => {
      const files = [...event.target.files].map((file) => ({ name: file.webkitRelativePath || file.name, file }));
      event.target.value = "";
      upload(files);
    });
  }
  showInterrupted();
}

/** The files of a drop, folders walked (their paths kept as ZIP member names). */
async function droppedFiles(transfer) {
  const entries = [...transfer.items].map((item) => item.webkitGetAsEntry?.()).filter(Boolean);
  if (!entries.length) return [...transfer.files].map((file) => ({ name: file.name, file }));
  const files = [];
  const walk = async (entry, path) => {
    if (entry.isFile) {
      files.push({ name: path + entry.name, file: await new Promise((ok, fail) => entry.file(ok, fail)) });
      return;
    }
    const reader = entry.createReader();
    for (;;) { // readEntries answers in batches until an empty one
      const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail));
      if (!batch.length) break;
      for (const child of batch) await walk(child, `${path}${entry.name}/`);
    }
  };
  for (const entry of entries) await walk(entry, "");
  return files;
}

/** What to send: one ZIP or one DICOM file as it is; anything else zipped here. */
async function sourceOf(files) {
  if (files.length === 1 && /\.zip$/i.test(files[0].file.name)) {
    return { blob: files[0].file, name: files[0].file.name, type: "application/zip", key: keyOf(files) };
  }
  if (files.length === 1 && !files[0].name.includes("/")) {
    return { blob: files[0].file, name: files[0].file.name, type: "application/dicom", key: keyOf(files) };
  }
  const top = files[0].name.split("/")[0];
  const name = files.every((f) => f.name.startsWith(`${top}/`)) ? `${top}.zip` : "files.zip";
  const total = files.reduce((sum, f) => sum + f.file.size, 0);
  let read = 0;
  const blob = await zipFiles(files, (bytes) => {
    read += bytes;
    progress(read / total, `zipping ${files.length} files: ${megabytes(read)} of ${megabytes(total)}`);
  });
  return { blob, name, type: "application/zip", key: keyOf(files) };
}

/** The resume key: names, sizes and dates of the files (the same files give the same bytes). */
function keyOf(files) {
  const parts = files.map((f) => `${f.name}:${f.file.size}:${f.file.lastModified}`).sort();
  return RESUME_PREFIX + parts.join("|").slice(0, 2000);
}

async function upload(files) {
  if (busy || !files.length) return;
  busy = true;
  $("upload-bar").hidden = false;
  try {
    const source = await sourceOf(files);
    const view = await openUpload(source);
    await sendParts(view, source.blob);
    say(`${source.name}: completing the upload…`);
    const accepted = await api("POST", `/uploads/${view.uploadId}/complete`);
    localStorage.removeItem(source.key);
    progress(1, `${source.name} uploaded; indexing its images…`);
    const ingest = await followIngest(accepted.ingestId);
    if (ingest.status === "completed") {
      say(`${source.name}: ${ingest.counts.images} images indexed` +
        (ingest.counts.rejected ? `, ${ingest.counts.rejected} files refused (not DICOM images)` : "") +
        ". Previews and thumbnails are being made.");
      onIndexed(ingest);
    } else {
      say(`${source.name} could not be read: ${ingest.reason ?? "the ingest failed"}`, true);
    }
  } catch (error) {
    say(`${error.message}. Choose the same files again to resume.`, true);
  } finally {
    busy = false;
  }
}

/** The upload these bytes were being sent as, if the API still has it open; else a new one. */
async function openUpload(source) {
  const known = JSON.parse(localStorage.getItem(source.key) ?? "null");
  if (known?.size === source.blob.size) {
    try {
      const view = await api("GET", `/uploads/${known.uploadId}`);
      if (view.state === "open") {
        say(`resuming: ${view.parts.length} of ${view.partCount} parts already sent`);
        return view;
      }
    } catch { /* gone (404) or expired: start over */ }
  }
  const view = await api("POST", "/uploads", { fileName: source.name, size: source.blob.size, contentType: source.type });
  localStorage.setItem(source.key, JSON.stringify({
    uploadId: view.uploadId, size: source.blob.size, name: source.name, at: Date.now(),
  }));
  return view;
}

/** PUT each missing part to its presigned URL, one at a time, the bar moving with the bytes. */
async function sendParts(view, blob) {
  let done = view.parts.reduce((sum, part) => sum + part.size, 0);
  for (const part of view.missingParts) {
    const start = (part.partNumber - 1) * view.partSize;
    const body = blob.slice(start, start + part.size);
    await put(part.url, body, (sent) => progress((done + sent) / blob.size,
      `uploading ${megabytes(done + sent)} of ${megabytes(blob.size)}`));
    done += part.size;
  }
}

/** XMLHttpRequest, not fetch: only it reports upload progress. */
function put(url, body, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("PUT", url);
    request.upload.onprogress = (event) => onProgress(event.loaded);
    request.onload = () => (request.status < 300 ? resolve()
      : reject(new Error(`S3 refused a part (HTTP ${request.status})`)));
    request.onerror = () => reject(new Error("the network dropped while sending a part"));
    request.send(body);
  });
}

/** Poll the ingest to its end; a 404 just after completing means "not projected yet". */
async function followIngest(ingestId) {
  const started = Date.now();
  for (;;) {
    try {
      const ingest = await api("GET", `/ingests/${ingestId}`);
      if (ingest.status === "completed" || ingest.status === "failed") return ingest;
      say(`indexing: ${ingest.counts.images} images so far…`);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404) || Date.now() - started > INGEST_UNKNOWN_MS) throw error;
      say("uploaded; waiting for the indexing to start…");
    }
    await new Promise((resolve) => setTimeout(resolve, INGEST_POLL_MS));
  }
}

/** Uploads this browser began and did not finish: say how to resume them. */
function showInterrupted() {
  const names = Object.keys(localStorage).filter((k) => k.startsWith(RESUME_PREFIX))
    .map((k) => JSON.parse(localStorage.getItem(k) ?? "{}").name).filter(Boolean);
  if (names.length) say(`Interrupted upload of ${names.join(", ")}: choose the same files again to resume.`);
}

function progress(share, message) {
  $("upload-bar").value = share;
  say(message);
}

function megabytes(bytes) {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

function say(message, isError = false) {
  const element = $("upload-message");
  element.textContent = message;
  element.classList.toggle("error", isError);
}
