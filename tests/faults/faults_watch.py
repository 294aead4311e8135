"""A WebSocket subscriber that stays subscribed to one job for a whole fault scenario: when the
connection drops it reconnects and resubscribes with `since_seq` = the last seq it has, as a
viewer does, and it records when each event arrived."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

TERMINAL = frozenset({"JobCompleted", "JobFailed", "JobCancelled"})


@dataclass
class Watcher:
    """Events of `job_id` as the notifier delivered them (by seq), and how often it reconnected."""

    ws_url: str
    token: str
    job_id: str
    events: dict[int, dict[str, Any]] = field(default_factory=dict)
    arrived: dict[int, float] = field(default_factory=dict)  # seq -> time.monotonic()
    duplicates: int = 0
    reconnects: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def last_seq(self) -> int:
        return max(self.events, default=-1)

    @property
    def terminal(self) -> dict[str, Any] | None:
        return next((e for e in self.events.values() if e["type"] in TERMINAL), None)

    def slices_seen(self) -> int:
        return sum(e["type"] == "SliceEncoded" for e in self.events.values())

    def first_arrival_after(self, moment: float) -> float | None:
        return min((t for t in self.arrived.values() if t >= moment), default=None)

    async def run(self) -> None:
        """Until the terminal event arrives (cancel the task to give up)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        while not self.done.is_set():
            try:
                async with connect(self.ws_url, additional_headers=headers) as ws:
                    frame = {"op": "subscribe", "job_id": self.job_id, "since_seq": self.last_seq}
                    await ws.send(json.dumps(frame))
                    async for raw in ws:
                        self._receive(json.loads(raw))
                        if self.done.is_set():
                            return
            except (OSError, WebSocketException, TimeoutError):
                pass  # the notifier is away or dropped us: come back as a viewer would
            self.reconnects += 1
            await asyncio.sleep(0.3)

    def _receive(self, message: dict[str, Any]) -> None:
        if message.get("op") == "error":
            raise AssertionError(f"notifier error for {self.job_id}: {message}")
        if message.get("op") != "event":
            return
        event = message["event"]
        if event["seq"] in self.events:
            self.duplicates += 1
            return
        self.events[event["seq"]] = event
        self.arrived[event["seq"]] = time.monotonic()
        if event["type"] in TERMINAL:
            self.done.set()


class Watchers:
    """One running `Watcher` per job."""

    def __init__(self, ws_url: str, token: str, job_ids: list[str]) -> None:
        self.ws_url, self.token = ws_url, token
        self.by_job: dict[str, Watcher] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.watch(job_ids)

    def watch(self, job_ids: list[str]) -> None:
        """Subscribe to more jobs."""
        for job in job_ids:
            watcher = Watcher(self.ws_url, self.token, job)
            self.by_job[job] = watcher
            self.tasks.append(asyncio.create_task(watcher.run()))

    def slices_seen(self) -> int:
        return sum(w.slices_seen() for w in self.by_job.values())

    def all_done(self) -> bool:
        return all(w.done.is_set() for w in self.by_job.values())

    def first_arrival_after(self, moment: float) -> float | None:
        found = [w.first_arrival_after(moment) for w in self.by_job.values()]
        return min((t for t in found if t is not None), default=None)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        results = await asyncio.gather(*self.tasks, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        errors = [e for e in errors if not isinstance(e, asyncio.CancelledError)]
        if errors:
            raise errors[0]
