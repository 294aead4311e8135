// One WebSocket to the notifier for every job the page follows. It reconnects by itself with
// a jittered exponential backoff and resubscribes each job with since_seq = the last seq the
// page applied, so nothing is missed; the page drops any seq it already has, so nothing counts
// twice.

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 8000;
const TOKEN_EXPIRED = 1008; // the notifier's close code: reconnecting with this token is useless

export class LiveFeed {
  /**
   * url: the notifier's ws:// URL; token: the bearer JWT (sent as ?token=, browsers cannot
   * set headers on a WebSocket); sinceOf(jobId): the last seq applied for that job;
   * onFrame(frame): every frame but the protocol's own chatter; onState(state, detail).
   */
  constructor({ url, token, sinceOf, onFrame, onState }) {
    this.url = url;
    this.token = token;
    this.sinceOf = sinceOf;
    this.onFrame = onFrame;
    this.onState = onState;
    this.jobs = new Set();
    this.ws = null;
    this.attempts = 0;
    this.timer = null;
    this.stopped = false;
    this.reconnects = 0;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, "page closed the feed");
  }

  /** Follow a job from the seq after sinceOf(jobId) (now if connected, else on connect). */
  watch(jobId) {
    if (this.jobs.has(jobId)) return;
    this.jobs.add(jobId);
    this.subscribe(jobId);
  }

  /** Stop following (the notifier itself ends a subscription after the terminal event). */
  forget(jobId) {
    this.jobs.delete(jobId);
  }

  connect() {
    const url = new URL(this.url);
    url.searchParams.set("token", this.token);
    this.onState("connecting");
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (error) { // a malformed notifier URL in config.json: say so, do not spin
      this.onState("stopped", `cannot connect: ${error.message}`);
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.onState("live");
      for (const jobId of this.jobs) this.subscribe(jobId);
    };
    ws.onmessage = (message) => this.receive(message.data);
    ws.onclose = (close) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (close.code === TOKEN_EXPIRED) {
        this.onState("stopped", "the token expired: paste a new one");
        return;
      }
      this.retry();
    };
  }

  retry() {
    const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.attempts);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.attempts += 1;
    this.reconnects += 1;
    this.onState("reconnecting", `retrying in ${(delay / 1000).toFixed(1)} s`);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  subscribe(jobId) {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    const frame = { op: "subscribe", job_id: jobId, since_seq: this.sinceOf(jobId) };
    this.ws.send(JSON.stringify(frame));
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return; // not ours to crash on; the notifier only sends JSON
    }
    if (frame.op === "subscribed") {
      this.attempts = 0; // a working connection: the next drop starts the backoff afresh
      return;
    }
    if (frame.op === "unsubscribed" || frame.op === "pong") return;
    if (frame.op === "error" && frame.code === "already-subscribed") return;
    this.onFrame(frame);
  }
}
