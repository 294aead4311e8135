"""`GET /queue`, as pure functions: queue positions and start/finish estimates.

The queue is every tenant's queued jobs, oldest request first, in each lane of its own: a
worker serves each of its request topics (the compressor's interactive and batch lanes, the
renderer's) one job at a time, the oldest waiting request first
(`dicompress_infra.oldest_first`), so a job's place and start are counted among the jobs of its
own lane. Estimates come from recent throughput (every lane's: a limit, as interactive jobs are
shorter): a running job ends at its projected ETA (`eta_at`), or when its remaining slices are
done at the recent slices/s, or after the mean job time; a queued job starts when the earliest
of `parallelism` slots of its lane frees up and runs for the mean job time. Without finished
jobs to learn from, estimates are null rather than invented.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from dicompress_api.web.camel import CAMEL
from dicompress_schemas import Lane, Topics


@dataclass(frozen=True)
class Throughput:
    """What the last completed jobs took (`jobs` of them; 0 means nothing to learn from)."""

    jobs: int
    slices_per_s: float | None
    mean_job_s: float | None


@dataclass(frozen=True)
class TenantLoad:
    """One tenant's compressions waiting or running: all of them, and those of the
    interactive lane."""

    active: int
    interactive: int


class ThroughputView(BaseModel):
    model_config = CAMEL

    based_on_jobs: int
    slices_per_second: float | None
    mean_job_seconds: float | None


class QueueEntry(BaseModel):
    """One of the caller's waiting or running jobs."""

    model_config = CAMEL

    job_id: uuid.UUID
    status: str
    lane: Lane | None = None  # None: not a compressor's (a rendered product)
    position: int | None = None  # 1 = next to start in its lane; None while running
    requested_at: datetime | None = None
    started_at: datetime | None = None
    estimated_start_at: datetime | None = None
    estimated_finish_at: datetime | None = None


class QueueView(BaseModel):
    """Counts over every tenant, and the caller's own jobs with their places."""

    model_config = CAMEL

    queued: int
    running: int
    max_queue_length: int
    throughput: ThroughputView
    jobs: list[QueueEntry]


def estimate_lanes(
    rows: Sequence[Mapping[str, Any]],
    now: datetime,
    pace: Throughput,
    parallelism: int,
    topics: Topics,
) -> list[QueueEntry]:
    """`estimate` in each request topic (`row["topic"]`) apart; entries in the rows' order."""
    by_topic: dict[str | None, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_topic.setdefault(row.get("topic"), []).append(row)
    entries: dict[uuid.UUID, QueueEntry] = {}
    for topic, lane_rows in by_topic.items():
        lane = topics.lane_of(topic) if topic is not None else None
        for entry in estimate(lane_rows, now, pace, parallelism):
            entries[entry.job_id] = entry.model_copy(update={"lane": lane})
    return [entries[row["job_id"]] for row in rows]


def estimate(
    rows: Sequence[Mapping[str, Any]], now: datetime, pace: Throughput, parallelism: int
) -> list[QueueEntry]:
    """Every queued or running row as an entry; `rows` are oldest request first."""
    running = [r for r in rows if r["status"] == "running"]
    queued = [r for r in rows if r["status"] == "queued"]
    entries: list[QueueEntry] = []
    slots: list[datetime | None] = []
    for row in running:
        finish = _running_finish(row, now, pace)
        slots.append(finish)
        entries.append(_entry(row, None, row.get("started_at"), finish))
    known = all(slot is not None for slot in slots)
    free: list[datetime] = [slot for slot in slots if slot is not None]
    free += [now] * max(0, parallelism - len(slots))
    heapq.heapify(free)
    for position, row in enumerate(queued, start=1):
        if not known or pace.mean_job_s is None or not free:
            entries.append(_entry(row, position, None, None))
            continue
        start = max(heapq.heappop(free), now)
        finish = start + timedelta(seconds=pace.mean_job_s)
        heapq.heappush(free, finish)
        entries.append(_entry(row, position, start, finish))
    return entries


def _running_finish(row: Mapping[str, Any], now: datetime, pace: Throughput) -> datetime | None:
    eta: datetime | None = row.get("eta_at")
    if eta is not None:
        return max(eta, now)
    total = row.get("slices_total")
    if total is not None and pace.slices_per_s:
        left = max(0, total - (row.get("slices_done") or 0) - (row.get("slices_failed") or 0))
        return now + timedelta(seconds=left / pace.slices_per_s)
    started: datetime | None = row.get("started_at")
    if started is not None and pace.mean_job_s is not None:
        return max(now, started + timedelta(seconds=pace.mean_job_s))
    return None


def _entry(
    row: Mapping[str, Any], position: int | None, start: datetime | None, finish: datetime | None
) -> QueueEntry:
    return QueueEntry(
        job_id=row["job_id"],
        status=row["status"],
        position=position,
        requested_at=row.get("requested_at"),
        started_at=row.get("started_at"),
        estimated_start_at=start,
        estimated_finish_at=finish,
    )
