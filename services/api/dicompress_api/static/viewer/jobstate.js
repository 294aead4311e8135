// What the viewer knows about one job, and how each notifier frame changes it.
// Pure: no DOM, no network, so the rules (dedupe by seq, counts) live in one place. The pace,
// ETA and ratio are the server's (dicompress_schemas.figures), shown as they come, never
// recomputed here: the page, the CLI and GET /jobs/{id} show the same numbers at the same seq.

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
    // the server's figures as of a seq: slices/s, when it should end (ms), the ratio so far
    figures: { seq: -1, slicesPerSecond: null, etaAt: null, ratio: null },
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
      applyFigures(job, frame.seq, frame.job?.figures);
      return applyCounts(job, frame.seq, frame.job ?? {});
    case "figures": // the projection's figures at frame.seq: newer than ours, they replace them
      return applyFigures(job, frame.seq, frame.figures);
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
  switch (event.type) {
    case "JobStarted":
      job.status = "running";
      job.total = event.total_slices;
      break;
    case "SliceEncoded":
      job.status = "running";
      job.total = event.total_slices;
      if (job.ok.has(event.slice_index)) job.relit += 1;
      else lightOk(job, event.slice_index);
      break;
    case "SliceFailed":
      job.total = event.total_slices;
      if (!job.ok.has(event.slice_index)) job.failed.add(event.slice_index);
      break;
    case "JobCompleted":
      job.status = "completed";
      ended(job, seq, event.ratio); // the exact ratio, as the projection takes it from here
      break;
    case "JobFailed":
      job.status = "failed";
      job.reason = event.reason;
      job.errorCode = event.error_code ?? null;
      ended(job, seq, job.figures.ratio);
      break;
    case "JobCancelled":
      job.status = "cancelled";
      job.reason = event.reason || "cancelled";
      ended(job, seq, job.figures.ratio);
      break;
    default: // CompressionRequested and any type newer than this page: nothing to show
  }
  return true;
}

/** A job over at `seq`: no pace, no ETA, and its last ratio. */
function ended(job, seq, ratio) {
  job.figures = { seq, slicesPerSecond: null, etaAt: null, ratio: ratio ?? null };
}

/** The server's figures as of `seq` (snake_case from the notifier, camelCase from the API). */
function applyFigures(job, seq, figures) {
  if (!figures || !Number.isInteger(seq) || seq < job.figures.seq) return false;
  const pick = (snake, camel) => figures[snake] ?? figures[camel] ?? null;
  const eta = Date.parse(pick("eta_at", "etaAt") ?? "");
  job.figures = {
    seq,
    slicesPerSecond: pick("slices_per_second", "slicesPerSecond"),
    etaAt: Number.isNaN(eta) ? null : eta,
    ratio: pick("ratio", "ratio"),
  };
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
  job.reason = view.reason ?? null;
  job.errorCode = view.errorCode ?? null;
  applyFigures(job, view.lastSeq ?? 0, view.figures);
  return job;
}

/**
 * What a person reads: x of y, share done, and the server's slices/s, ETA (seconds from `now`,
 * ms) and ratio so far, as they came.
 */
export function summary(job, now = Date.now()) {
  const done = job.ok.size + job.unnamedOk;
  const failed = job.failed.size + job.unnamedFailed;
  const handled = done + failed;
  const finished = TERMINAL_STATUSES.has(job.status);
  const { slicesPerSecond, etaAt, ratio } = job.figures;
  let eta = etaAt === null ? null : Math.max(0, (etaAt - now) / 1000);
  if (finished) eta = job.status === "completed" ? 0 : null;
  return {
    done,
    failed,
    total: job.total,
    rate: finished ? null : slicesPerSecond,
    eta,
    ratio,
    share: job.status === "completed" ? 1 : job.total ? Math.min(1, handled / job.total) : 0,
    finished,
  };
}
