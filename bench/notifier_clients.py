"""The viewers of the notifier benchmark: WebSocket clients run in a worker process.

A worker opens its connections in batches (the machine has 2 cores and the notifier verifies
a JWT per handshake), subscribes each to its jobs, tells the parent it is ready, then counts
every frame until each subscription has seen its job's terminal event or the parent's grace
time runs out. It checks, per (connection, job): every seq 0..last arrived as an `event`
frame, once, in order. Latency is arrival time minus the event's `occurred_at`, which the
publisher sets just before it hands the event to Kafka (same machine, same clock).

Frames other than `event` are counted by op and otherwise ignored, so the count survives
protocol additions: `snapshot` (a seq it carries covers the events up to it), `progress`
(coalesced slice updates for a slow client) and `gap` are reported, not treated as errors.

Parent <-> worker messages over a Pipe: worker sends ("ready", ConnectSummary); the parent
sends ("drain", grace_s) once it has published everything; the worker answers ("report",
WorkerReport).
"""

from __future__ import annotations

import asyncio
import resource
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

OPEN_TIMEOUT_S = 60.0
CLOSE_BATCH = 500  # connections closed at once at the end


@dataclass(frozen=True)
class ClientPlan:
    """What one worker process does: `jobs[i]` are the job ids connection i subscribes to;
    every job's events have seqs 0..last_seq[job] (the last is its terminal event)."""

    url: str
    token: str
    jobs: tuple[tuple[str, ...], ...]
    last_seq: dict[str, int]
    batch: int = 100
    deflate: bool = True  # browsers offer permessage-deflate; so do we by default
    ready_timeout_s: float = 120.0  # for the acks, once every connection is open


@dataclass(frozen=True)
class ConnectSummary:
    connections: int
    failures: int
    first_failure: str
    seconds: float
    acked: int = 0  # subscriptions acknowledged by the notifier when the worker said ready
    snapshots: int = 0  # ... and answered with a snapshot
    ready_s: float = 0.0  # from the first connect to every ack (and snapshot) in


@dataclass
class WorkerReport:
    """What a worker saw; summed over workers by the parent."""

    connections: int = 0
    connect_failures: int = 0
    subscriptions: int = 0
    completed: int = 0  # subscriptions that got their terminal event
    events: int = 0  # `event` frames
    lost: int = 0  # expected seqs never received (nor covered by a snapshot)
    duplicates: int = 0
    out_of_order: int = 0  # arrived after a higher seq of the same job
    unexpected: int = 0  # seqs outside 0..last, or events of a job not subscribed
    covered_by_snapshot: int = 0
    coalesced: int = 0  # events folded into `progress` frames (the `coalesced` they carry)
    ops: dict[str, int] = field(default_factory=dict)  # frames other than `event`, by op
    closes: dict[str, int] = field(default_factory=dict)  # closed by the server early, by code
    closed_after_end: int = 0  # closed by the server once all its subscriptions were over
    latencies_ms: bytes = b""  # array('d') of every event frame's latency
    sent_at: bytes = b""  # array('d'): when each of those events was published (epoch s)
    cpu_s: float = 0.0


class Track:
    """One (connection, job) subscription: which seqs arrived, how."""

    __slots__ = (
        "acked",
        "covered",
        "done",
        "dups",
        "last",
        "max_seen",
        "ooo",
        "seen",
        "snapshot",
    )

    def __init__(self, last: int) -> None:
        self.last = last
        self.seen = bytearray(last + 1)
        self.max_seen = -1
        self.covered = -1  # seqs up to here came in a snapshot
        self.dups = 0
        self.ooo = 0
        self.done = False
        self.acked = False  # 'subscribed' (or a 'snapshot') came back
        self.snapshot = False  # a 'snapshot' came back

    def event(self, seq: int) -> str:
        """Record one event frame: 'new', 'end' (new, and the terminal one), 'duplicate', or
        'outside' (not a seq of this job)."""
        if not 0 <= seq <= self.last:
            return "outside"
        if self.seen[seq] or seq <= self.covered:
            self.dups += 1
            return "duplicate"
        self.seen[seq] = 1
        if seq < self.max_seen:
            self.ooo += 1
        self.max_seen = max(self.max_seen, seq)
        if seq == self.last:
            self.done = True
            return "end"
        return "new"

    def lost(self) -> int:
        return sum(1 for s in range(self.covered + 1, self.last + 1) if not self.seen[s])


def raise_fd_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit: every connection is a file descriptor."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def worker_main(plan: ClientPlan, pipe: Connection) -> None:
    """Entry point of a worker process (multiprocessing 'spawn')."""
    raise_fd_limit()
    asyncio.run(Viewers(plan).run(pipe))


class Viewers:
    """The connections of one worker and the tally of what they received."""

    def __init__(self, plan: ClientPlan) -> None:
        self._plan = plan
        self._tracks: dict[tuple[int, str], Track] = {}
        self._sockets: dict[int, ClientConnection] = {}
        self._readers: list[asyncio.Task[None]] = []
        self._acks_due = 0
        self._acked = 0
        self._acks_in = asyncio.Event()
        self._open = 0  # subscriptions of open connections not finished yet
        self._finished = asyncio.Event()
        self._latencies = array("d")
        self._sent_at = array("d")
        self._ops: Counter[str] = Counter()
        self._closes: Counter[str] = Counter()
        self._unexpected = 0
        self._events = 0
        self._coalesced = 0
        self._closed_after_end = 0
        self._snapshots = 0
        self._snapshots_in = asyncio.Event()
        self._snapshot_protocol = False  # the notifier answers subscriptions with snapshots
        self._draining = False

    async def run(self, pipe: Connection) -> None:
        started = time.perf_counter()
        summary = await self._connect_all()
        try:
            async with asyncio.timeout(self._plan.ready_timeout_s):
                await self._acks_in.wait()
                if self._snapshot_protocol:
                    # this protocol answers with a snapshot: events published before it
                    # would be folded into it, not sent, so wait for every one
                    await self._snapshots_in.wait()
        except TimeoutError:
            pass  # the parent sees fewer acks than subscriptions
        summary = replace(
            summary,
            acked=self._acked,
            snapshots=self._snapshots,
            ready_s=time.perf_counter() - started,
        )
        pipe.send(("ready", summary))
        message = await asyncio.to_thread(pipe.recv)
        grace_s = float(message[1]) if message[0] == "drain" else 0.0
        try:
            async with asyncio.timeout(grace_s):
                await self._finished.wait()
        except TimeoutError:
            pass  # incomplete subscriptions are counted as such
        self._draining = True
        await self._close_all()
        pipe.send(("report", self._report(summary)))

    async def _connect_all(self) -> ConnectSummary:
        started = time.perf_counter()
        failures: list[str] = []
        indexes = range(len(self._plan.jobs))
        for at in range(0, len(indexes), self._plan.batch):
            batch = indexes[at : at + self._plan.batch]
            outcomes = await asyncio.gather(
                *(self._open_one(i) for i in batch), return_exceptions=True
            )
            failures += [
                f"{type(o).__name__}: {o}" for o in outcomes if isinstance(o, BaseException)
            ]
        self._acks_due = sum(len(self._plan.jobs[i]) for i in self._sockets)
        if self._acked >= self._acks_due:
            self._acks_in.set()
        if self._snapshots >= self._acks_due:
            self._snapshots_in.set()
        if self._open <= 0:
            self._finished.set()
        return ConnectSummary(
            connections=len(self._sockets),
            failures=len(failures),
            first_failure=failures[0] if failures else "",
            seconds=time.perf_counter() - started,
        )

    async def _open_one(self, index: int) -> None:
        ws = await connect(
            self._plan.url,
            additional_headers={"Authorization": f"Bearer {self._plan.token}"},
            open_timeout=OPEN_TIMEOUT_S,
            ping_interval=None,  # browsers answer the server's pings but send none
            compression="deflate" if self._plan.deflate else None,
            max_size=None,
        )
        self._sockets[index] = ws
        for job in self._plan.jobs[index]:
            self._tracks[(index, job)] = Track(self._plan.last_seq[job])
        self._open += len(self._plan.jobs[index])
        self._readers.append(asyncio.create_task(self._read(index, ws)))
        for job in self._plan.jobs[index]:
            await ws.send(orjson.dumps({"op": "subscribe", "job_id": job}).decode())

    async def _read(self, index: int, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                self._on_frame(index, message, time.time())
        except ConnectionClosed:
            pass  # the close code is read below
        unfinished = [job for job in self._plan.jobs[index] if not self._tracks[(index, job)].done]
        if not self._draining and not unfinished:
            self._closed_after_end += 1  # e.g. the idle timeout of a connection with nothing left
        elif not self._draining:
            self._closes[str(ws.close_code)] += 1
            # what it had not finished will never finish: stop waiting for it
            for job in self._plan.jobs[index]:
                track = self._tracks[(index, job)]
                if not track.acked:
                    track.acked = True
                    self._acked += 1
                if not track.snapshot:
                    track.snapshot = True
                    self._snapshots += 1
                if not track.done:
                    self._subscription_over()
            if self._acks_due and self._acked >= self._acks_due:
                self._acks_in.set()
            if self._acks_due and self._snapshots >= self._acks_due:
                self._snapshots_in.set()

    def _on_frame(self, index: int, message: str | bytes, arrived: float) -> None:
        frame: dict[str, Any] = orjson.loads(message)
        op = str(frame.get("op"))
        if op != "event":
            self._ops[op] += 1
            if op in ("subscribed", "snapshot") and (index, frame.get("job_id")) in self._tracks:
                self._ack(index, frame)
            elif op == "progress" and isinstance(frame.get("coalesced"), int):
                self._coalesced += frame["coalesced"]
            return
        self._events += 1
        track = self._tracks.get((index, str(frame.get("job_id"))))
        seq = frame.get("seq")
        outcome = track.event(seq) if track is not None and isinstance(seq, int) else "outside"
        if outcome == "outside":
            self._unexpected += 1
            return
        event = frame.get("event")
        occurred = event.get("occurred_at") if isinstance(event, dict) else None
        if isinstance(occurred, str):
            sent = datetime.fromisoformat(occurred).timestamp()
            self._latencies.append((arrived - sent) * 1000.0)
            self._sent_at.append(sent)
        if outcome == "end":
            self._subscription_over()

    def _ack(self, index: int, frame: dict[str, Any]) -> None:
        track = self._tracks[(index, str(frame["job_id"]))]
        if frame["op"] == "snapshot" and isinstance(frame.get("seq"), int):
            track.covered = max(track.covered, min(int(frame["seq"]), track.last))
            if track.covered == track.last and not track.done:
                track.done = True
                self._subscription_over()
        if frame["op"] == "snapshot" and not track.snapshot:
            self._snapshot_protocol = True
            track.snapshot = True
            self._snapshots += 1
            if self._acks_due and self._snapshots >= self._acks_due:
                self._snapshots_in.set()
        if not track.acked:
            track.acked = True
            self._acked += 1
            if self._acks_due and self._acked >= self._acks_due:
                self._acks_in.set()

    def _subscription_over(self) -> None:
        """One subscription will get no more events (its end came, or its connection went)."""
        self._open -= 1
        if self._open <= 0 and self._acks_due:
            self._finished.set()

    async def _close_all(self) -> None:
        sockets = list(self._sockets.values())
        for at in range(0, len(sockets), CLOSE_BATCH):
            await asyncio.gather(
                *(ws.close() for ws in sockets[at : at + CLOSE_BATCH]), return_exceptions=True
            )
        await asyncio.gather(*self._readers, return_exceptions=True)

    def _report(self, summary: ConnectSummary) -> WorkerReport:
        tracks = self._tracks.values()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return WorkerReport(
            connections=summary.connections,
            connect_failures=summary.failures,
            subscriptions=len(self._tracks),
            completed=sum(t.done for t in tracks),
            events=self._events,
            lost=sum(t.lost() for t in tracks),
            duplicates=sum(t.dups for t in tracks),
            out_of_order=sum(t.ooo for t in tracks),
            unexpected=self._unexpected,
            covered_by_snapshot=sum(t.covered + 1 for t in tracks),
            coalesced=self._coalesced,
            ops=dict(self._ops),
            closes=dict(self._closes),
            closed_after_end=self._closed_after_end,
            latencies_ms=self._latencies.tobytes(),
            sent_at=self._sent_at.tobytes(),
            cpu_s=usage.ru_utime + usage.ru_stime,
        )
