// What the viewer knows about one job, and how each notifier frame changes it.
// Pure: no DOM, no network, so the rules (dedupe by seq, counts, rate, ratio) live in one place.

export const TERMINAL_EVENTS = new Set(["JobCompleted", "JobFailed", "JobCancelled"]);
export const TERMINAL_STATUSES = new Set(["completed", "failed", "cancelled"]);

export function newJob(jobId) {
  return {
    jobId,
    lastSeq: -1, // the last seq applied; a resubscription asks for what follows it
    status: "queued",
    total: null,
    ok: new Set(), // slice indexes known to be encoded
    failed: new Set(), // slice indexes known to have failed
    // slices a snapshot or progress frame counted without naming them (until /slices names them)
    unnamedOk: 0,
    unnamedFailed: 0,
    needsSlices: false, // the grid must be refilled from GET /jobs/{id}/slices
    startedAt: null, // ms, when the compressor started the job (from the event)
    lastSliceAt: null, // ms, when the last slice was handled (from the event)
    bytesIn: 0, // sum of the encoded slices' source sizes
    codestream: 0, // their estimated codestream bytes (bytes_in / ratio)
    ratio: null, // the job's own figure, once it has one
    reason: null,
    errorCode: null, // the stable cause of a failure (JobFailed.error_code)
    // debugging counters, shown as data- attributes: each must stay 0 but `applied`
    applied: 0, // event frames applied
    duplicates: 0, // event frames dropped because their seq was already applied
    skipped: 0, // seqs never received (a jump not explained by a snapshot)
    relit: 0, // SliceEncoded for an index already lit (a re-run after a crash)
    gaps: 0, // gap frames: the notifier could not resume from our seq and sent a snapshot
  };
}

/** Apply one server frame to `job`; returns true if anything visible changed. */
export function applyFrame(job, frame) {
  switch (frame.op) {
    case "event":
      return applyEvent(job, frame.seq, frame.event);
    case "snapshot":
      return applyCounts(job, frame.seq, frame.job ?? {});
    case "progress": // SliceEncoded events folded into one for a lagging client
      if (!Number.isInteger(frame.seq) || frame.seq <= job.lastSeq) return false;
      for (const index of frame.slice_indexes ?? []) lightOk(job, index);
      return applyCounts(job, frame.seq, frame);
    case "gap": // the events after our seq are gone; the snapshot that follows resets us
      job.gaps += 1;
      return true;
    default:
      return false;
  }
}

function applyEvent(job, seq, event) {
  if (!Number.isInteger(seq) || seq <= job.lastSeq) {
    job.duplicates += 1;
    return false;
  }
  if (job.lastSeq >= 0 && seq > job.lastSeq + 1) job.skipped += seq - job.lastSeq - 1;
  job.lastSeq = seq;
  job.applied += 1;
  const at = Date.parse(event.occurred_at);
  switch (event.type) {
    case "JobStarted":
      job.status = "running";
      job.total = event.total_slices;
      job.startedAt = at;
      break;
    case "SliceEncoded":
      job.status = "running";
      job.total = event.total_slices;
      job.lastSliceAt = at;
      if (job.ok.has(event.slice_index)) {
        job.relit += 1;
      } else {
        lightOk(job, event.slice_index);
        job.bytesIn += event.bytes_in;
        job.codestream += event.bytes_in / event.ratio;
      }
      break;
    case "SliceFailed":
      job.total = event.total_slices;
      job.lastSliceAt = at;
      if (!job.ok.has(event.slice_index)) job.failed.add(event.slice_index);
      break;
    case "JobCompleted":
      job.status = "completed";
      job.ratio = event.ratio;
      break;
    case "JobFailed":
      job.status = "failed";
      job.reason = event.reason;
      job.errorCode = event.error_code ?? null;
      break;
    case "JobCancelled":
      job.status = "cancelled";
      job.reason = event.reason || "cancelled";
      break;
    default: // CompressionRequested and any type newer than this page: nothing to show
  }
  return true;
}

function lightOk(job, index) {
  job.ok.add(index);
  job.failed.delete(index); // a re-run after a crash may succeed where the first run failed
}

/**
 * A snapshot (or coalesced progress) of the job as of `seq`: it replaces the counts, but names
 * no slices, so the grid is refilled from the API. One older than what we applied is ignored.
 * Accepts the projection's names (slices_done) and the API's (slicesDone).
 */
function applyCounts(job, seq, counts) {
  if (!Number.isInteger(seq) || seq <= job.lastSeq) return false;
  job.lastSeq = seq;
  const pick = (snake, camel) => counts[snake] ?? counts[camel];
  const status = pick("status", "status");
  if (status) job.status = status;
  job.total = pick("slices_total", "slicesTotal") ?? job.total;
  job.unnamedOk = Math.max(0, (pick("slices_done", "slicesDone") ?? 0) - job.ok.size);
  job.unnamedFailed = Math.max(0, (pick("slices_failed", "slicesFailed") ?? 0) - job.failed.size);
  job.ratio = pick("ratio", "ratio") ?? job.ratio;
  // server times only, like the events': the rate never mixes in this machine's clock
  const started = Date.parse(pick("started_at", "startedAt") ?? "");
  if (!Number.isNaN(started)) job.startedAt = job.startedAt ?? started;
  const updated = Date.parse(pick("last_event_at", "updatedAt") ?? "");
  if (!Number.isNaN(updated)) job.lastSliceAt = Math.max(job.lastSliceAt ?? 0, updated);
  job.needsSlices = job.unnamedOk + job.unnamedFailed > 0;
  return true;
}

/** The slices GET /jobs/{id}/slices names: light them; they replace the unnamed counts. */
export function applySliceList(job, slices) {
  for (const slice of slices) {
    if (slice.status === "encoded") {
      job.ok.add(slice.index);
      job.failed.delete(slice.index);
    } else if (slice.status === "failed" && !job.ok.has(slice.index)) {
      job.failed.add(slice.index);
    }
  }
  job.unnamedOk = 0;
  job.unnamedFailed = 0;
  job.needsSlices = false;
}

/** A job as `GET /jobs` lists it (camelCase), for jobs the page does not follow live. */
export function jobFromView(view) {
  const job = newJob(view.jobId);
  job.status = view.status ?? "queued";
  job.total = view.slicesTotal ?? null;
  job.unnamedOk = view.slicesDone ?? 0;
  job.unnamedFailed = view.slicesFailed ?? 0;
  job.ratio = view.ratio ?? null;
  job.reason = view.reason ?? null;
  job.errorCode = view.errorCode ?? null;
  const started = Date.parse(view.timestamps?.startedAt ?? "");
  const finished = Date.parse(view.timestamps?.finishedAt ?? "");
  if (!Number.isNaN(started) && !Number.isNaN(finished)) {
    job.startedAt = started;
    job.lastSliceAt = finished;
  }
  return job;
}

/** The figures a person reads: x of y, slices/s, ETA (s), ratio so far, share done. */
export function summary(job) {
  const done = job.ok.size + job.unnamedOk;
  const failed = job.failed.size + job.unnamedFailed;
  const handled = done + failed;
  const seconds = (job.lastSliceAt - job.startedAt) / 1000;
  const rate = job.startedAt !== null && job.lastSliceAt !== null && seconds > 0
    ? handled / seconds
    : null;
  const left = job.total === null ? null : Math.max(0, job.total - handled);
  const finished = TERMINAL_STATUSES.has(job.status);
  return {
    done,
    failed,
    total: job.total,
    rate,
    eta: finished ? (job.status === "completed" ? 0 : null) : rate && left !== null ? left / rate : null,
    ratio: job.codestream > 0 ? job.bytesIn / job.codestream : job.ratio,
    share: job.status === "completed" ? 1 : job.total ? Math.min(1, handled / job.total) : 0,
    finished,
  };
}
