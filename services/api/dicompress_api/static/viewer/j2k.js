// JPEG 2000 decoding off the main thread: a small pool of decode-worker.js workers, one
// codestream at a time each, so scrolling stays smooth while slices arrive.

const POOL_SIZE = Math.max(1, Math.min(2, navigator.hardwareConcurrency || 1));

class DecoderPool {
  constructor(size) {
    this.workers = [];
    this.size = size;
    this.next = 0;
    this.pending = new Map(); // id -> {resolve, reject}
    this.ids = 0;
  }

  worker() {
    if (this.workers.length < this.size) {
      const worker = new Worker("decode-worker.js");
      worker.onmessage = ({ data }) => this.settle(data);
      worker.onerror = (event) => this.failAll(event.message || "the decoder could not start");
      this.workers.push(worker);
      return worker;
    }
    this.next = (this.next + 1) % this.workers.length;
    return this.workers[this.next];
  }

  decode(codestream) {
    const id = (this.ids += 1);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker().postMessage({ id, codestream });
    });
  }

  settle(data) {
    const waiting = this.pending.get(data.id);
    if (!waiting) return;
    this.pending.delete(data.id);
    if (data.error) waiting.reject(new Error(`JPEG 2000 decode failed: ${data.error}`));
    else waiting.resolve(samplesOf(data));
  }

  failAll(message) {
    for (const { reject } of this.pending.values()) reject(new Error(message));
    this.pending.clear();
  }
}

/** The decoded samples as a typed array of the right width and sign. */
function samplesOf({ width, height, bitsPerSample, signed, buffer }) {
  let samples;
  if (bitsPerSample <= 8) samples = signed ? new Int8Array(buffer) : new Uint8Array(buffer);
  else samples = signed ? new Int16Array(buffer) : new Uint16Array(buffer);
  return { width, height, samples };
}

const pool = new DecoderPool(POOL_SIZE);

/** Decode one JPEG 2000 codestream: {width, height, samples}. */
export function decodeJ2K(codestream) {
  return pool.decode(codestream);
}
