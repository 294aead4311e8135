// One notifier connection shared by every part of the page that follows jobs (the job list,
// a study's products, the slice viewer's preview). A job is subscribed while anyone listens;
// on a reconnect it resumes from the oldest seq any listener applied (each drops repeats).

import { LiveFeed } from "./feed.js";

export class LiveHub {
  constructor() {
    this.feed = null;
    this.listeners = new Map(); // jobId -> Set of {since(): number, onFrame(frame)}
  }

  start(url, token, onState) {
    this.stop();
    this.feed = new LiveFeed({
      url, token, onState, sinceOf: (jobId) => this.sinceOf(jobId), onFrame: (frame) => this.dispatch(frame),
    });
    this.feed.start();
    for (const jobId of this.listeners.keys()) this.feed.watch(jobId);
  }

  stop() {
    this.feed?.stop();
    this.feed = null;
  }

  get reconnects() {
    return this.feed?.reconnects ?? 0;
  }

  watch(jobId, listener) {
    if (!this.listeners.has(jobId)) this.listeners.set(jobId, new Set());
    this.listeners.get(jobId).add(listener);
    this.feed?.watch(jobId);
  }

  unwatch(jobId, listener) {
    const set = this.listeners.get(jobId);
    if (!set) return;
    set.delete(listener);
    if (set.size === 0) {
      this.listeners.delete(jobId);
      this.feed?.forget(jobId);
    }
  }

  sinceOf(jobId) {
    const seqs = [...(this.listeners.get(jobId) ?? [])].map((l) => l.since());
    return seqs.length ? Math.min(...seqs) : -1;
  }

  dispatch(frame) {
    for (const listener of this.listeners.get(frame.job_id) ?? []) listener.onFrame(frame);
  }
}
