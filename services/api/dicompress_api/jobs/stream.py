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
gets a filter that blanks the token; proxies in front need the same).
"""

# No `from __future__ import annotations`: FastAPI must see the closures' real annotations.

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

import asyncpg
import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, Query
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dicompress_api.adapters.database import FAILURES, Database
from dicompress_api.web.auth import TenantDependency, verified_tenant
from dicompress_api.web.errors import JobNotFound, StoreUnavailable, Unauthenticated
from dicompress_infra.auth import TokenVerifier
from dicompress_infra.listen import PgListener
from dicompress_schemas import changefeed
from dicompress_schemas.envelope import SEQ_MAX
from dicompress_schemas.jobs import TERMINAL_EVENT_TYPES

log = logging.getLogger(__name__)

MEDIA_TYPE: Final = "text/event-stream"
END: Final = "end"  # the name of the stream's last message
FIGURES: Final = "figures"  # the name of a message of the job's figures (pace, ETA, ratio)
PAGE: Final = 500  # rows per read, so a long backlog is never held in memory at once

_OWNER = "SELECT tenant FROM jobs WHERE job_id = $1"
_AFTER = """
SELECT seq, type, payload FROM job_events WHERE job_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3
"""
_TERMINAL = """
SELECT seq, type FROM job_events WHERE job_id = $1 AND type = ANY($2::text[]) ORDER BY seq LIMIT 1
"""
_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


class RedactTokens(logging.Filter):
    """Blanks `access_token=...` in log records (uvicorn's access log prints whole URLs)."""

    _TOKEN = re.compile(r"(access_token=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._TOKEN.sub(r"\1REDACTED", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = self._TOKEN.sub(r"\1REDACTED", record.msg)
        return True


def redact_tokens_in_access_log() -> None:
    """Install `RedactTokens` on uvicorn's access logger, once per process."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokens) for f in access.filters):
        access.addFilter(RedactTokens())


@dataclass(eq=False)
class Watched:
    """One stream's view of its job's notifications: a wake-up, and the newest figures the
    projection computed (`dicompress_schemas.figures`), sent on as they are."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    figures_seq: int = -1
    figures: dict[str, Any] | None = None

    def notified(self, change: changefeed.Change) -> None:
        seq = change.last_seq
        if change.figures is not None and seq is not None and seq >= self.figures_seq:
            self.figures_seq, self.figures = seq, change.figures
        self.wake.set()


class ChangeListener:
    """The process's one LISTEN on the change feed (`dicompress_infra.listen`); wakes the
    streams of a job.

    It (re)connects in the background with a capped backoff, so the API starts and serves while
    Postgres is away; on each (re)connection it wakes every stream, which then read whatever they
    missed meanwhile.
    """

    def __init__(self, dsn: str, *, channel: str, retry_max_s: float = 5.0) -> None:
        self._waiters: dict[uuid.UUID, set[Watched]] = {}
        self._listen = PgListener(
            dsn,
            channel,
            self._on_change,
            on_listening=self._wake_all,
            retry_max_s=retry_max_s,
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._listen.listening.is_set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen.run(), name="sse-change-listener")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @contextlib.contextmanager
    def watch(self, job_id: uuid.UUID) -> Iterator[Watched]:
        """A `Watched` woken whenever `job_id` changes (or the listener reconnects)."""
        watched = Watched()
        self._waiters.setdefault(job_id, set()).add(watched)
        try:
            yield watched
        finally:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                waiters.discard(watched)
                if not waiters:
                    del self._waiters[job_id]

    def _on_change(self, payload: str) -> None:
        try:
            change = changefeed.parse(payload)
        except ValueError as exc:
            log.warning("ignored a malformed change notification", extra={"reason": str(exc)})
            return
        for watched in self._waiters.get(change.job_id, ()):
            watched.notified(change)

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for watched in waiters:
                watched.wake.set()


class JobEventLog:
    """Reads a job's recorded events on the process's shared pool."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def owner(self, job_id: uuid.UUID) -> str | None:
        try:
            async with self._database.pool().acquire() as conn:
                tenant: str | None = await conn.fetchval(_OWNER, job_id)
        except FAILURES as exc:
            raise StoreUnavailable(f"the job database did not answer: {exc}") from exc
        return tenant

    async def terminal(self, job_id: uuid.UUID) -> tuple[int, str] | None:
        """The seq and type of the job's terminal event, if recorded (raises FAILURES)."""
        async with self._database.pool().acquire() as conn:
            row = await conn.fetchrow(_TERMINAL, job_id, sorted(TERMINAL_EVENT_TYPES))
        return None if row is None else (int(row["seq"]), str(row["type"]))

    async def from_seq(self, job_id: uuid.UUID, seq: int) -> list[asyncpg.Record]:
        """Up to PAGE events of the job from `seq` on, in sequence order (raises FAILURES)."""
        async with self._database.pool().acquire() as conn:
            rows: list[asyncpg.Record] = await conn.fetch(_AFTER, job_id, seq, PAGE)
        return rows


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
                        now = time.monotonic()
                        gap_since = gap_since or now
                        if now - gap_since < self._gap_grace_s:
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


def stream_router(
    dsn: str,
    database: Database,
    verifier: TokenVerifier,
    *,
    channel: str,
    heartbeat_s: float = 15.0,
    retry_ms: int = 3000,
    gap_grace_s: float = 10.0,
    limit: Callable[[TenantDependency], TenantDependency] | None = None,
) -> APIRouter:
    """`GET /jobs/{id}/stream`. Its lifespan runs the process's change listener on `dsn`,
    LISTENing on `channel` (the setting `CHANGE_FEED_CHANNEL`).

    `limit` wraps the tenant dependency like the other routes' (e.g. the per-tenant rate limit).
    """
    redact_tokens_in_access_log()  # the token may come in the URL (EventSource)
    listener = ChangeListener(dsn, channel=channel)
    events_log = JobEventLog(database)
    streams = EventStream(
        events_log,
        listener,
        heartbeat_s=heartbeat_s,
        retry_ms=retry_ms,
        gap_grace_s=gap_grace_s,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await database.start()  # no-op when the app already started it
        await listener.start()
        try:
            yield
        finally:
            await listener.close()

    router = APIRouter(prefix="/jobs", tags=["progress"], lifespan=lifespan)
    bearer = HTTPBearer(
        auto_error=False, description="JWT with a 'tenant' claim (or ?access_token=)"
    )

    async def stream_tenant(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        access_token: Annotated[
            str | None,
            Query(
                description="The bearer token, for EventSource (which cannot send headers); "
                "prefer the Authorization header where the client can set it"
            ),
        ] = None,
    ) -> str:
        token = credentials.credentials if credentials is not None else access_token
        if not token:
            raise Unauthenticated("missing bearer token", invalid=False)
        return await verified_tenant(verifier, token)

    responses: dict[int | str, dict[str, Any]] = {
        200: {
            "description": "The job's events as Server-Sent Events, until its terminal event, "
            "then a last message `event: end` (close the EventSource on it)",
            "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
        },
        401: _PROBLEM,
        404: _PROBLEM,
        422: _PROBLEM,
        503: _PROBLEM,
    }

    caller = limit(stream_tenant) if limit is not None else stream_tenant

    @router.get("/{job_id}/stream", response_class=StreamingResponse, responses=responses)
    async def job_stream(
        job_id: uuid.UUID,
        tenant: Annotated[str, Depends(caller)],
        last_event_id: Annotated[
            int | None,
            Header(
                alias="Last-Event-ID",
                ge=0,
                le=SEQ_MAX,
                description="Resume after this seq (EventSource sends it on reconnection)",
            ),
        ] = None,
        since_seq: Annotated[
            int | None,
            Query(ge=0, le=SEQ_MAX, description="Resume after this seq (Last-Event-ID wins)"),
        ] = None,
    ) -> StreamingResponse:
        """The job's events in sequence order, live, as `text/event-stream`; after the terminal
        event (or at once, when resumed at or after it) a last message `event: end`, on which
        an EventSource should be closed. Resume with `Last-Event-ID` or `since_seq`."""
        if await events_log.owner(job_id) != tenant:
            raise JobNotFound(f"no job {job_id} for this tenant (it may not be projected yet)")
        after = last_event_id if last_event_id is not None else since_seq
        return StreamingResponse(
            streams.body(job_id, -1 if after is None else after),
            media_type=MEDIA_TYPE,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router
