// The slices of a preview series, as they become ready: each slot is pending (not encoded
// yet), announced (SliceEncoded arrived, its URL not yet listed), listed (its URL known),
// loading, ready (decoded) or failed. Slices are
// fetched and decoded a few at a time, nearest to the one on screen first. Index order is
// anatomical order (the preview job encodes its slices in that order).

import { api } from "./api.js";
import { DicomError, J2K_SYNTAXES, codestreamOf, parseDicom } from "./dicom.js";
import { decodeJ2K } from "./j2k.js";

const PARALLEL = 4;
const LIST_DEBOUNCE_MS = 150;

export class SliceStack {
  /** jobId: the preview's job; onChange(index|null): a slot changed (null: the counts). */
  constructor(jobId, onChange) {
    this.jobId = jobId;
    this.onChange = onChange;
    this.total = null;
    this.slots = [];
    this.want = 0;
    this.active = 0;
    this.listTimer = null;
    this.closed = false;
  }

  close() {
    this.closed = true;
    clearTimeout(this.listTimer);
  }

  slot(index) {
    while (this.slots.length <= index) this.slots.push({ state: "pending", url: null, image: null, position: null });
    return this.slots[index];
  }

  setTotal(total) {
    if (!Number.isInteger(total) || total === this.total) return;
    this.total = total;
    if (total > 0) this.slot(total - 1);
    this.onChange(null);
  }

  /** The encoded slices and their URLs, from GET /jobs/{id}/slices. */
  async refreshList() {
    const list = await api("GET", `/jobs/${this.jobId}/slices`);
    if (this.closed) return;
    this.setTotal(list.slicesTotal);
    for (const item of list.slices) {
      const slot = this.slot(item.index);
      if (item.status === "failed" && slot.state !== "ready") {
        slot.state = "failed";
        slot.error = item.reason ?? "this slice could not be made";
        this.onChange(item.index);
      } else if (item.status === "encoded" && item.url) {
        slot.url = item.url;
        if (slot.state === "pending" || slot.state === "announced" || slot.state === "expired") {
          slot.state = "listed";
          this.onChange(item.index);
        }
      }
    }
    this.pump();
  }

  /** A SliceEncoded arrived: its URL comes with the next listing (asked once per burst). */
  encoded(index, position) {
    const slot = this.slot(index);
    if (position != null) slot.position = position;
    if (slot.state === "pending") {
      slot.state = "announced"; // counted and shown at once; its URL follows
      this.onChange(index);
    }
    clearTimeout(this.listTimer);
    this.listTimer = setTimeout(() => this.refreshList().catch(() => {}), LIST_DEBOUNCE_MS);
  }

  failed(index, reason) {
    const slot = this.slot(index);
    if (slot.state === "ready") return;
    slot.state = "failed";
    slot.error = reason;
    this.onChange(index);
  }

  /** Load the slices nearest to `index` first. */
  focus(index) {
    this.want = index;
    this.pump();
  }

  counts() {
    let ready = 0;
    let encoded = 0;
    let failed = 0;
    for (const slot of this.slots) {
      if (slot.state === "ready") ready += 1;
      if (slot.state === "failed") failed += 1;
      else if (slot.state !== "pending") encoded += 1;
    }
    return { ready, encoded, failed, total: this.total ?? this.slots.length };
  }

  pump() {
    while (this.active < PARALLEL && !this.closed) {
      const index = this.nearestListed();
      if (index < 0) return;
      this.load(index);
    }
  }

  nearestListed() {
    for (let distance = 0; distance < this.slots.length; distance += 1) {
      for (const index of [this.want + distance, this.want - distance]) {
        if (this.slots[index]?.state === "listed") return index;
      }
    }
    return -1;
  }

  async load(index) {
    const slot = this.slots[index];
    slot.state = "loading";
    this.active += 1;
    try {
      const response = await fetch(slot.url);
      if (response.status === 403) { // the presigned URL expired: list again for fresh ones
        slot.state = "expired";
        this.encoded(index, null);
        return;
      }
      if (!response.ok) throw new Error(`the slice could not be read (HTTP ${response.status})`);
      slot.image = await decodeSlice(await response.arrayBuffer());
      slot.position = slot.image.along ?? slot.position;
      slot.state = "ready";
    } catch (error) {
      slot.state = "failed";
      slot.error = error instanceof DicomError ? `unreadable slice: ${error.message}` : error.message;
    } finally {
      this.active -= 1;
      if (!this.closed) {
        this.onChange(index);
        this.pump();
      }
    }
  }
}

/** A DICOM slice parsed and its pixels decoded: the DICOM attributes plus width, height and
 *  `samples` (stored values). */
export async function decodeSlice(buffer) {
  const image = parseDicom(buffer);
  let decoded;
  if (image.fragments) {
    if (!J2K_SYNTAXES.has(image.transferSyntax)) {
      throw new DicomError(`transfer syntax ${image.transferSyntax} is not JPEG 2000`);
    }
    decoded = await decodeJ2K(codestreamOf(image));
  } else {
    decoded = nativeSamples(image);
  }
  const { fragments, native, ...attributes } = image;
  return { ...attributes, ...decoded, along: alongNormal(image) };
}

function nativeSamples(image) {
  const { native, bitsAllocated, signed, rows, columns } = image;
  const copy = native.slice().buffer;
  let samples;
  if (bitsAllocated === 8) samples = signed ? new Int8Array(copy) : new Uint8Array(copy);
  else samples = signed ? new Int16Array(copy) : new Uint16Array(copy);
  return { width: columns, height: rows, samples };
}

/** The slice's position along its normal (mm), as the API and the events measure it. */
function alongNormal({ position, orientation }) {
  if (position?.length !== 3 || orientation?.length !== 6) return null;
  const [a, b, c, d, e, f] = orientation;
  const normal = [b * f - c * e, c * d - a * f, a * e - b * d];
  return position[0] * normal[0] + position[1] * normal[1] + position[2] * normal[2];
}
