"""`GET /jobs/{id}/stream`: a job's events as Server-Sent Events, for clients without WebSocket.

The stream is read from `job_events` (the progress service's log of every applied event), so a
client that reconnects with `Last-Event-ID: <seq>` (EventSource does this by itself) or
`?since_seq=<seq>` gets exactly the events after that sequence, however old. Each event is

    id: <seq>
    event: <type>
    data: <the event's JSON>

sent in sequence order without gaps or duplicates. After the job's terminal event (JobCompleted,
JobFailed or JobCancelled) comes one last message, which also answers a resume at or after it:

    event: end
    data: {"job_id": "<id>", "seq": <the terminal event's seq>, "type": "<its type>"}

and the stream closes. It has no `id`, so the client's Last-Event-ID stays the terminal seq.
Between events come the job's figures (pace, ETA, ratio so far) as the projection computed them
at a seq the client already has, the very numbers `GET /jobs/{id}` answers at that seq:

    event: figures
    data: {"job_id": "<id>", "seq": <seq>, "figures": {"slices_per_second": .., "eta_at": ..,
           "ratio": ..}}

also without `id`. An
EventSource reconnects whenever a stream closes, so a client calls `close()` on `end`; one that
does not is answered `end` alone at each reconnection (never the events again). While nothing
happens a comment line is sent every `heartbeat_s` so proxies keep the connection open.

New events are noticed through the projection's change feed (Postgres LISTEN on the channel
`CHANGE_FEED_CHANNEL`): ONE listening connection per API process wakes every stream of the
changed job, and the stream then reads the new rows. Each stream registers before it reads, so
a change that commits between its read and its wait still wakes it; it also reads again at each
heartbeat, so a lost listener connection only slows it down.

EventSource cannot send headers, so the token may also come as `?access_token=` (RFC 6750 section
2.3); prefer the header where the client can, since URLs end up in logs (uvicorn's access log
gets a filter that blanks the token; proxies in front need the same)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Final

import orjson

from dicompress_api.adapters.database import FAILURES
from dicompress_api.jobs.changes import ChangeListener
from dicompress_api.jobs.event_log import PAGE, JobEventLog
from dicompress_schemas.jobs import TERMINAL_EVENT_TYPES

log = logging.getLogger(__name__)

MEDIA_TYPE: Final = "text/event-stream"
END: Final = "end"  # the name of the stream's last message
FIGURES: Final = "figures"  # the name of a message of the job's figures (pace, ETA, ratio)


def frame(seq: int, kind: str, payload: object) -> bytes:
    """One SSE message; the JSON is compact, so it is one `data:` line."""
    value = orjson.loads(payload) if isinstance(payload, str | bytes) else payload
    data = orjson.dumps(value).decode()
    return f"id: {seq}\nevent: {kind}\ndata: {data}\n\n".encode()


def figures_frame(job_id: uuid.UUID, seq: int, figures: dict[str, Any]) -> bytes:
    """The job's figures at `seq`, as GET /jobs/{id} answers them at that seq. No `id:` line:
    it is not an event of the log, so it must not move the client's Last-Event-ID."""
    data = orjson.dumps({"job_id": str(job_id), "seq": seq, "figures": figures}).decode()
    return f"event: {FIGURES}\ndata: {data}\n\n".encode()


def end_frame(job_id: uuid.UUID, seq: int, kind: str) -> bytes:
    """The stream's last message: the job ended at `seq` with an event of type `kind`."""
    data = orjson.dumps({"job_id": str(job_id), "seq": seq, "type": kind}).decode()
    return f"event: {END}\ndata: {data}\n\n".encode()


class EventStream:
    """Turns a job's log into an SSE body: backlog, then live events, until the terminal one."""

    def __init__(
        self,
        log_reader: JobEventLog,
        listener: ChangeListener,
        *,
        heartbeat_s: float,
        retry_ms: int,
        gap_grace_s: float,
        poll_s: float = 2.0,
    ) -> None:
        self._log = log_reader
        self._listener = listener
        self._heartbeat_s = heartbeat_s
        self._retry_ms = retry_ms
        self._gap_grace_s = gap_grace_s
        self._poll_s = poll_s  # how often to read while the listener is not connected

    async def body(self, job_id: uuid.UUID, after_seq: int) -> AsyncIterator[bytes]:
        yield f"retry: {self._retry_ms}\n\n".encode()
        next_seq = after_seq + 1
        gap_since: float | None = None  # when we first saw a later seq but not `next_seq`
        figures_sent = -1  # the seq of the last figures frame sent
        with self._listener.watch(job_id) as watched:  # before reading: no change is missed
            wake = watched.wake
            if after_seq >= 0 and (end := await self._ended_before(job_id, next_seq)):
                yield end_frame(job_id, *end)  # a resume after the end: nothing will follow
                return
            while True:
                wake.clear()
                try:
                    rows = await self._log.from_seq(job_id, next_seq)
                except FAILURES as exc:
                    # Too late for an error status: end, and the client resumes after `retry`.
                    where = {"job_id": str(job_id), "error": str(exc)}
                    log.warning("event stream ended: database unavailable", extra=where)
                    return
                for row in rows:
                    seq, kind = row["seq"], row["type"]
                    if seq != next_seq:
                        # Events of a job may be recorded out of order (two topics) for a moment.
                        # Not past a terminal event after seq 0: a job's events after its
                        # request share one partition and are projected in its order, so what
                        # is missing before its end will never come (a re-run's failure past
                        # the seqs its crashed first run would have used: `attempts`).
                        now = time.monotonic()
                        gap_since = gap_since or now
                        settled = kind in TERMINAL_EVENT_TYPES and next_seq >= 1
                        if not settled and now - gap_since < self._gap_grace_s:
                            break
                        gap = {"job_id": str(job_id), "missing_from": next_seq, "next": seq}
                        log.warning("skipping a gap in a job's events", extra=gap)
                    gap_since = None
                    yield frame(seq, kind, row["payload"])
                    next_seq = seq + 1
                    if kind in TERMINAL_EVENT_TYPES:
                        yield end_frame(job_id, seq, kind)
                        return
                else:
                    if len(rows) == PAGE:
                        continue  # more backlog to send at once
                if watched.figures is not None and figures_sent < watched.figures_seq < next_seq:
                    # figures of a seq the client has the events of (the notification comes
                    # after the commit, so the read above had them)
                    figures_sent = watched.figures_seq
                    yield figures_frame(job_id, figures_sent, watched.figures)
                if not await self._wait(wake, gap_since):
                    yield b": keepalive\n\n"

    async def _ended_before(self, job_id: uuid.UUID, seq: int) -> tuple[int, str] | None:
        """The job's terminal event (seq, type) if it comes before `seq`, else None."""
        try:
            terminal = await self._log.terminal(job_id)
        except FAILURES:
            return None  # the loop's own read reports the outage
        return terminal if terminal is not None and terminal[0] < seq else None

    async def _wait(self, wake: asyncio.Event, gap_since: float | None) -> bool:
        """Wait for a change; False when the heartbeat is due instead."""
        timeout = self._heartbeat_s if self._listener.connected else self._poll_s
        if gap_since is not None:
            timeout = min(timeout, max(0.05, gap_since + self._gap_grace_s - time.monotonic()))
        try:
            await asyncio.wait_for(wake.wait(), timeout)
        except TimeoutError:
            return gap_since is not None  # a gap re-check is not a heartbeat
        return True
