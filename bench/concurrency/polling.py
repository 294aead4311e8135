"""The client's side of the burst: `GET /jobs/{id}` of every job in rounds (each answer
timed: the API's read latency under load), and `GET /queue` every second per tenant, keeping
each of its jobs' lane, position and estimated start and finish (issue 18 item 4)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx
from bench.concurrency.client import ENDED, since
from bench.concurrency.stats import QueueSample


@dataclass
class Burst:
    """What the client saw while the jobs ran."""

    job_ids: list[str] = field(default_factory=list)  # in the order the API acknowledged them
    read_ms: list[float] = field(default_factory=list)
    read_statuses: dict[int, int] = field(default_factory=dict)
    queue_ms: list[float] = field(default_factory=list)
    queue: list[QueueSample] = field(default_factory=list)
    status: dict[str, str] = field(default_factory=dict)
    # set by the polling once any job of the burst is seen running: the probe's cue
    first_started: asyncio.Event = field(default_factory=asyncio.Event)


async def read_loop(
    http: httpx.AsyncClient, burst: Burst, pause_s: float, stop: asyncio.Event
) -> None:
    """GET /jobs/{id} of every job in turn, then a pause; until every job has ended."""
    while not stop.is_set():
        for job_id in burst.job_ids:
            began = time.perf_counter()
            answer = await http.get(f"/jobs/{job_id}")
            burst.read_ms.append((time.perf_counter() - began) * 1000)
            burst.read_statuses[answer.status_code] = (
                burst.read_statuses.get(answer.status_code, 0) + 1
            )
            if answer.status_code == 200:
                burst.status[job_id] = answer.json().get("status") or "?"
                if burst.status[job_id] != "queued":
                    burst.first_started.set()
        if len(burst.status) == len(burst.job_ids) and all(
            s in ENDED for s in burst.status.values()
        ):
            stop.set()
        await asyncio.sleep(pause_s)


async def read_queue(http: httpx.AsyncClient, burst: Burst, zero_wall: float) -> None:
    """One GET /queue: each of the caller's jobs with its lane, position and estimates."""
    began = time.perf_counter()
    answer = await http.get("/queue")
    burst.queue_ms.append((time.perf_counter() - began) * 1000)
    if answer.status_code != 200:
        return
    at = time.time() - zero_wall
    for entry in answer.json()["jobs"]:
        burst.queue.append(
            QueueSample(
                at=at,
                job_id=str(entry["jobId"]),
                status=entry["status"],
                position=entry.get("position"),
                estimated_start=since(entry.get("estimatedStartAt"), zero_wall),
                estimated_finish=since(entry.get("estimatedFinishAt"), zero_wall),
                lane=entry.get("lane"),
            )
        )


async def queue_loop(
    http: httpx.AsyncClient, burst: Burst, zero_wall: float, stop: asyncio.Event
) -> None:
    """GET /queue every second (the tenant of `http` sees its own jobs only)."""
    while not stop.is_set():
        await read_queue(http, burst, zero_wall)
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            continue
