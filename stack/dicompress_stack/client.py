"""A small client of the running stack: submit a job over HTTP, follow it over WebSocket.

The demo and `dicompress submit/watch` use it; it speaks the same protocol as the web viewer
(`static/viewer/jobstate.js` and `feed.js` hold the same rules): apply each frame once by seq,
and after a dropped connection resubscribe with `since_seq` = the last seq applied.
"""

from __future__ import annotations

import asyncio
import json
import random
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from dicompress_schemas.figures import Figures
from dicompress_schemas.jobs import TERMINAL_EVENT_TYPES, TERMINAL_STATUSES

TOKEN_EXPIRED = 1008  # the notifier's close code: reconnecting with this token is useless


class ClientError(Exception):
    """The API or the notifier answered with an error; `status` is the HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def api_request(
    method: str, url: str, token: str, body: dict[str, Any] | None = None, timeout_s: float = 30
) -> Any:
    """One JSON request to the API with a bearer token; its decoded answer, or ClientError
    with the problem's detail and the status."""
    return _request(method, url, token, body, timeout_s)


def _request(
    method: str, url: str, token: str, body: dict[str, Any] | None = None, timeout_s: float = 30
) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (http URL of our stack)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise ClientError(
            f"{method} {url} -> {exc.code}: {_problem(exc.read())}", status=exc.code
        ) from exc
    except urllib.error.URLError as exc:
        raise ClientError(f"{method} {url}: {exc.reason}; is the stack up?") from exc


def _problem(body: bytes) -> str:
    """The `detail` of a problem document (RFC 9457), else the body as it came."""
    try:
        problem = json.loads(body)
    except ValueError:
        problem = None
    detail = problem.get("detail") if isinstance(problem, dict) else None
    return detail if isinstance(detail, str) else body.decode(errors="replace")


def submit_job(api_url: str, token: str, request: dict[str, Any]) -> dict[str, Any]:
    """POST /jobs; returns the API's answer (with `jobId`)."""
    answer = _request("POST", f"{api_url}/jobs", token, request)
    if not isinstance(answer, dict) or "jobId" not in answer:
        raise ClientError(f"unexpected answer to POST /jobs: {answer!r}")
    return answer


def get_job(api_url: str, token: str, job_id: str) -> dict[str, Any]:
    """GET /jobs/{id}: the projection's view of the job."""
    answer = _request("GET", f"{api_url}/jobs/{job_id}", token)
    if not isinstance(answer, dict):
        raise ClientError(f"unexpected answer to GET /jobs/{job_id}: {answer!r}")
    return answer


@dataclass
class JobProgress:
    """What a watcher knows of one job, built from the notifier's frames.

    Event frames are applied once each, by seq: one at or below `last_seq` is a duplicate (a
    replay after a resume) and is dropped. A `snapshot` or `progress` frame (a newer notifier)
    replaces the counts as of its seq (a snapshot names no slices; progress names the ones it
    folds).
    """

    job_id: str
    last_seq: int = -1
    status: str = "queued"
    total: int | None = None
    encoded: set[int] = field(default_factory=set)
    failed: set[int] = field(default_factory=set)
    unnamed_encoded: int = 0  # counted by a snapshot, not named by an event
    unnamed_failed: int = 0
    terminal: dict[str, Any] | None = None  # the terminal event, once seen
    # pace, ETA and ratio as the server computed them (snapshot and figures frames), at a seq
    figures: Figures | None = None
    figures_seq: int = -1
    applied: int = 0
    duplicates: int = 0

    @property
    def done(self) -> int:
        return len(self.encoded) + self.unnamed_encoded

    @property
    def failures(self) -> int:
        return len(self.failed) + self.unnamed_failed

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def shown(self, now: datetime) -> tuple[float | None, float | None, float | None]:
        """(slices/s, ETA in seconds from `now`, ratio): the server's figures, not recomputed
        (so the CLI, the viewer and GET /jobs/{id} show the same numbers at the same seq)."""
        figures = self.figures
        if figures is None:
            return None, None, None
        return figures.slices_per_second, figures.eta_s(now), figures.ratio

    def apply(self, frame: dict[str, Any]) -> bool:
        """Apply one server frame; True if the job's state changed."""
        op, seq = frame.get("op"), frame.get("seq")
        if op == "event" and isinstance(seq, int) and isinstance(frame.get("event"), dict):
            return self._event(seq, frame["event"])
        if op == "snapshot" and isinstance(seq, int):
            counts = frame.get("job")
            counts = counts if isinstance(counts, dict) else {}
            self._figures(seq, counts.get("figures"))
            return self._counts(seq, counts)
        if op == "figures" and isinstance(seq, int):
            return self._figures(seq, frame.get("figures"))
        if op == "progress" and isinstance(seq, int) and seq > self.last_seq:
            # SliceEncoded events folded into one for a lagging client: the indexes, then counts
            for index in frame.get("slice_indexes") or []:
                self.encoded.add(index)
                self.failed.discard(index)
            return self._counts(seq, frame)
        return False

    def _event(self, seq: int, event: dict[str, Any]) -> bool:
        if seq <= self.last_seq:
            self.duplicates += 1
            return False
        self.last_seq = seq
        self.applied += 1
        kind = str(event.get("type"))
        if kind == "JobStarted":
            self.status, self.total = "running", event["total_slices"]
        elif kind == "SliceEncoded":
            self.status, self.total = "running", event["total_slices"]
            self.encoded.add(event["slice_index"])
            self.failed.discard(event["slice_index"])  # a re-run may succeed where one failed
        elif kind == "ImageRendered":  # a thumbnails or snapshot product's item
            self.status, self.total = "running", event["total_items"]
            self.encoded.add(event["item_index"])
        elif kind == "SliceFailed":
            self.total = event["total_slices"]
            if event["slice_index"] not in self.encoded:
                self.failed.add(event["slice_index"])
        elif kind in TERMINAL_EVENT_TYPES:
            self.status = {"JobCompleted": "completed", "JobFailed": "failed"}.get(
                kind, "cancelled"
            )
            self.terminal = event
            # the end's figures, as the projection computes them from this very event
            ratio = event.get("ratio") if kind == "JobCompleted" else None
            last = self.figures.ratio if self.figures is not None else None
            self.figures = Figures(None, None, ratio if ratio is not None else last)
            self.figures_seq = seq
        return True

    def _figures(self, seq: int, raw: object) -> bool:
        """The server's figures as of `seq`; an older set than the one held changes nothing."""
        figures = Figures.from_json(raw)
        if figures is None or seq < self.figures_seq:
            return False
        self.figures, self.figures_seq = figures, seq
        return True

    def _counts(self, seq: int, counts: dict[str, Any]) -> bool:
        if seq <= self.last_seq:
            return False
        self.last_seq = seq
        self.status = counts.get("status") or self.status
        self.total = counts.get("slices_total", self.total)
        self.unnamed_encoded = max(0, (counts.get("slices_done") or 0) - len(self.encoded))
        self.unnamed_failed = max(0, (counts.get("slices_failed") or 0) - len(self.failed))
        return True


def backoff_delays(
    first_s: float = 0.5, cap_s: float = 8.0, rng: random.Random | None = None
) -> Iterator[float]:
    """Reconnect delays: doubling from `first_s` up to `cap_s`, each jittered into its upper
    half so that many clients dropped at once do not return at once."""
    rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
    ceiling = first_s
    while True:
        yield ceiling / 2 + rng.random() * ceiling / 2
        ceiling = min(cap_s, ceiling * 2)


Listener = Callable[[JobProgress], None]


async def follow_job(
    ws_url: str,
    token: str,
    progress: JobProgress,
    on_change: Listener,
    *,
    max_reconnects: int = 20,
    on_reconnect: Callable[[float, str], None] | None = None,
) -> JobProgress:
    """Follow the job until it is over, calling `on_change` on every change. A dropped
    connection is reopened (with backoff) and the job resubscribed from `progress.last_seq`,
    so nothing is missed or counted twice; ClientError after `max_reconnects` in a row."""
    delays = backoff_delays()
    failures = 0
    while True:
        before = progress.last_seq
        try:
            if await _follow_once(ws_url, token, progress, on_change):
                return progress
            why = "the notifier ended the stream"
        except (OSError, TimeoutError, WebSocketException) as exc:
            if isinstance(exc, InvalidStatus) and exc.response.status_code == 401:
                raise ClientError("the notifier refused the token (401)") from exc
            why = f"{type(exc).__name__}: {exc}"
        if progress.last_seq > before:  # that connection worked: start the backoff afresh
            failures = 0
            delays = backoff_delays()
        failures += 1
        if failures > max_reconnects:
            raise ClientError(f"lost the notifier {max_reconnects} times in a row: {why}")
        delay = next(delays)
        if on_reconnect is not None:
            on_reconnect(delay, why)
        await asyncio.sleep(delay)


async def _follow_once(ws_url: str, token: str, progress: JobProgress, on_change: Listener) -> bool:
    """One connection: subscribe from the last seq, apply frames; True once the job is over."""
    headers = {"Authorization": f"Bearer {token}"}
    async with connect(ws_url, additional_headers=headers, open_timeout=10) as ws:
        subscribe = {"op": "subscribe", "job_id": progress.job_id, "since_seq": progress.last_seq}
        await ws.send(json.dumps(subscribe))
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("op") == "error" and frame.get("code") != "already-subscribed":
                raise ClientError(f"notifier: {frame.get('code')}: {frame.get('message')}")
            if progress.apply(frame):
                on_change(progress)
            if progress.finished:
                return True
        if ws.close_code == TOKEN_EXPIRED:
            raise ClientError("the notifier closed the connection: the token expired")
    return False
