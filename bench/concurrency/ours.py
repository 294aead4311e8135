"""Ours: the jobs submitted at once through the API of the whole embedded stack (`bench_stack`),
all on the same study in S3 (as the documents ran the same study 10 times).

While they run, one client loops over `GET /jobs/{id}` of every job (a round, then a pause),
timing each answer, and another asks `GET /queue` every second, keeping each job's position
and estimated start and finish. The stack's processes (services with their children, Kafka,
Postgres, S3Proxy) are sampled every 100 ms. Completion and first-slice times are the events'
own (`finishedAt`, and the first `SliceEncoded` of `GET /jobs/{id}/events`), minus the wall
time of the first submission.
"""

from __future__ import annotations

import asyncio
import resource
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from bench.concurrency.sampler import Sampler, sample
from bench.concurrency.stats import Contender, QueueSample, percentile
from bench.ingest.stack import BenchStack
from bench.products.cpu import cpu_seconds, cpu_used, service_pids

TENANT = "bench-concurrency"
PREFIX = f"{TENANT}/series/study/"
ENDED = ("completed", "failed", "cancelled")


@dataclass
class Burst:
    """What the client saw while the jobs ran."""

    job_ids: list[str] = field(default_factory=list)  # in the order the API acknowledged them
    read_ms: list[float] = field(default_factory=list)
    read_statuses: dict[int, int] = field(default_factory=dict)
    queue_ms: list[float] = field(default_factory=list)
    queue: list[QueueSample] = field(default_factory=list)
    status: dict[str, str] = field(default_factory=dict)


def put_series(stack: BenchStack, files: list[Path]) -> str:
    """The study's files under the tenant's prefix; its s3:// URI."""
    s3 = stack.handle.s3_client()
    for path in files:
        s3.put_object(Bucket=stack.config.bucket, Key=PREFIX + path.name, Body=path.read_bytes())
    return f"s3://{stack.config.bucket}/{PREFIX}"


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _since(stamp: str | None, zero_wall: float) -> float | None:
    return None if stamp is None else datetime.fromisoformat(stamp).timestamp() - zero_wall


async def _submit(http: httpx.AsyncClient, source: str, target: str, rate: float) -> str:
    answer = await http.post(
        "/jobs",
        # ten studies at once from one script: the batch lane, the one-at-a-time queue the
        # design documents compare against
        json={
            "s3SourceUri": source,
            "s3TargetUri": target,
            "compressionRate": rate,
            "priority": "batch",
        },
    )
    if answer.status_code != 202:
        raise RuntimeError(f"POST /jobs: {answer.status_code} {answer.text[:300]}")
    return str(answer.json()["jobId"])


async def _wait_ended(http: httpx.AsyncClient, job_id: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job: dict[str, Any] = (await http.get(f"/jobs/{job_id}")).json()
        if job.get("status") in ENDED:
            return job
        await asyncio.sleep(0.5)
    raise RuntimeError(f"job {job_id} did not end in {timeout_s:.0f} s")


async def _read_loop(
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
        if len(burst.status) == len(burst.job_ids) and all(
            s in ENDED for s in burst.status.values()
        ):
            stop.set()
        await asyncio.sleep(pause_s)


async def _queue_loop(
    http: httpx.AsyncClient, burst: Burst, zero_wall: float, stop: asyncio.Event
) -> None:
    """GET /queue every second: each of our jobs' position and estimates."""
    while not stop.is_set():
        began = time.perf_counter()
        answer = await http.get("/queue")
        burst.queue_ms.append((time.perf_counter() - began) * 1000)
        if answer.status_code == 200:
            at = time.time() - zero_wall
            for entry in answer.json()["jobs"]:
                burst.queue.append(
                    QueueSample(
                        at=at,
                        job_id=str(entry["jobId"]),
                        status=entry["status"],
                        position=entry.get("position"),
                        estimated_start=_since(entry.get("estimatedStartAt"), zero_wall),
                        estimated_finish=_since(entry.get("estimatedFinishAt"), zero_wall),
                    )
                )
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            continue


@dataclass(frozen=True)
class OursRun:
    contender: Contender
    burst: Burst
    started: dict[str, float]  # job id -> seconds from the burst's start (startedAt)
    finished: dict[str, float]
    warmup_s: float | None
    cpu_by_service: dict[str, float]


async def run_ours(
    stack: BenchStack,
    source: str,
    jobs: int,
    slices: int,
    rate: float,
    warmup: bool,
    pause_s: float,
    timeout_s: float,
) -> OursRun:
    headers = {"Authorization": f"Bearer {stack.handle.token(TENANT)}"}
    target = f"s3://{stack.config.bucket}/{TENANT}/out/"
    pids = service_pids(stack.config)
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(
        base_url=stack.config.api_url, headers=headers, timeout=60.0, limits=limits
    ) as http:
        warmup_s = None
        if warmup:  # one job first: the pool warm, and GET /queue has a pace to estimate from
            began = time.perf_counter()
            await _wait_ended(http, await _submit(http, source, target, rate), timeout_s)
            warmup_s = time.perf_counter() - began
        await asyncio.sleep(2.0)  # let the stack settle before the idle sample
        idle = sample(list(pids.values()))
        cpu_before = cpu_seconds(pids)
        burst = Burst()
        stop = asyncio.Event()
        self_before = _self_cpu()
        with Sampler(lambda: list(pids.values())) as sampler:
            zero_wall = time.time()
            zero = time.perf_counter()

            async def submit() -> None:
                burst.job_ids.append(await _submit(http, source, target, rate))

            await asyncio.gather(*(submit() for _ in range(jobs)))
            submitted_s = time.perf_counter() - zero
            loops = [
                asyncio.create_task(_read_loop(http, burst, pause_s, stop)),
                asyncio.create_task(_queue_loop(http, burst, zero_wall, stop)),
            ]
            try:
                await asyncio.wait_for(stop.wait(), timeout_s)
            except TimeoutError:
                stop.set()
            await asyncio.gather(*loops)
        cpu = cpu_used(cpu_before, cpu_seconds(pids))
        bench_cpu = _self_cpu() - self_before
        views = [(await http.get(f"/jobs/{job_id}")).json() for job_id in burst.job_ids]
        trail = (await http.get(f"/jobs/{burst.job_ids[-1]}/events")).json()
    started, finished = {}, {}
    for view in views:
        stamps = view["timestamps"]
        if (at := _since(stamps.get("startedAt"), zero_wall)) is not None:
            started[str(view["jobId"])] = at
        if (
            view["status"] == "completed"
            and (at := _since(stamps.get("finishedAt"), zero_wall)) is not None
        ):
            finished[str(view["jobId"])] = at
    encoded = [e["occurredAt"] for e in trail["events"] if e["type"] == "SliceEncoded"]
    first_slice = min((_since(s, zero_wall) or 0.0 for s in encoded), default=None)
    done = list(finished.values())
    notes = [
        f"{jobs} POST /jobs answered 202 within {submitted_s:.2f} s",
        f"statuses at the end: {sorted(v['status'] for v in views)}",
        f"GET /jobs/{{id}} of every job in turn, {pause_s:g} s between rounds: "
        f"{len(burst.read_ms)} reads, p50 "
        f"{percentile(burst.read_ms, 50):.0f} ms, p99 {percentile(burst.read_ms, 99):.0f} ms, "
        f"max {max(burst.read_ms, default=float('nan')):.0f} ms, statuses {burst.read_statuses}",
        f"GET /queue: {len(burst.queue_ms)} reads, p50 {percentile(burst.queue_ms, 50):.0f} ms, "
        f"p99 {percentile(burst.queue_ms, 99):.0f} ms",
        f"{sampler.samples} samples; the sampler itself used {sampler.sampler_cpu_s:.1f} CPU-s; "
        f"the bench process (sampler and polling client) {bench_cpu:.1f} CPU-s",
        f"CPU-seconds per study of the compressor alone (service and encoder pool): "
        f"{cpu.get('compressor', 0.0) / jobs:.1f}; of the API (serving the polling) "
        f"{cpu.get('api', 0.0) / jobs:.1f}",
    ]
    contender = Contender(
        name="ours (whole stack)",
        jobs=jobs,
        slices_per_job=slices,
        total_s=max(done) if len(done) == jobs else time.perf_counter() - zero,
        job_done_s=[finished.get(str(v["jobId"])) for v in views],
        first_slice_last_job_s=first_slice,
        idle_processes=idle.processes,
        peak_processes=sampler.peak_processes,
        idle_rss_bytes=idle.rss_bytes,
        peak_rss_bytes=sampler.peak_rss_bytes,
        peak_memory_taken_bytes=sampler.peak_taken_bytes,
        cpu_s=sum(cpu.values()),
        slices_done=sum(int(v.get("slicesDone") or 0) for v in views),
        api_read_p99_ms=percentile(burst.read_ms, 99),
        notes=notes,
        machine_busy_s=sampler.machine_busy_s,
        bench_cpu_s=bench_cpu,
    )
    return OursRun(contender, burst, started, finished, warmup_s, cpu)
