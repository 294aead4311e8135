"""Ours: the jobs submitted at once through the API of the whole embedded stack (`bench_stack`),
all on the same study in S3 (as the documents ran the same study 10 times).

While they run, the client polls `GET /jobs/{id}` and `GET /queue` (`polling.py`). The stack's
processes (services with their children, Kafka, Postgres, S3Proxy) are sampled every 100 ms.
Completion and first-slice times are the events' own (`finishedAt`, and the first
`SliceEncoded` of `GET /jobs/{id}/events`), minus the wall time of the first submission. The
jobs go to the batch lane; once the first has started, one interactive job of another tenant
is sent behind them (`probe.py`), and that tenant's `GET /queue` is read too, so each lane's
positions and estimates are judged apart.
"""

from __future__ import annotations

import asyncio
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from bench.concurrency.client import since, submit, wait_ended
from bench.concurrency.polling import Burst, queue_loop, read_loop, read_queue
from bench.concurrency.probe import PROBE_TENANT, Probe, run_probe
from bench.concurrency.sampler import Sampler, sample
from bench.concurrency.stats import Contender, percentile
from bench.ingest.stack import BenchStack
from bench.products.cpu import cpu_seconds, cpu_used, service_pids

TENANT = "bench-concurrency"
PREFIX = f"{TENANT}/series/study/"


def put_series(stack: BenchStack, files: list[Path]) -> str:
    """The study's files under the tenant's prefix; its s3:// URI."""
    s3 = stack.handle.s3_client()
    for path in files:
        s3.put_object(Bucket=stack.config.bucket, Key=PREFIX + path.name, Body=path.read_bytes())
    return f"s3://{stack.config.bucket}/{PREFIX}"


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _submit(
    http: httpx.AsyncClient, source: str, target: str, rate: float, codec: str | None
) -> str:
    # ten studies at once from one script: the batch lane, the one-at-a-time queue the design
    # documents compare against
    return str((await submit(http, source, target, rate, "batch", codec))["jobId"])


@dataclass(frozen=True)
class OursRun:
    contender: Contender
    burst: Burst
    requested: dict[str, float]  # job id -> seconds from the burst's start (requestedAt)
    started: dict[str, float]  # (startedAt), the probe's included
    finished: dict[str, float]  # (finishedAt of a completed job), the probe's included
    warmup_s: float | None
    probe: Probe | None = None
    probe_error: str | None = None  # why the probe has no figures, when it has none


def _client(stack: BenchStack, tenant: str) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    return httpx.AsyncClient(
        base_url=stack.config.api_url,
        headers={"Authorization": f"Bearer {stack.handle.token(tenant)}"},
        timeout=60.0,
        limits=limits,
    )


async def _probe_outcome(task: asyncio.Task[Probe] | None) -> tuple[Probe | None, str | None]:
    """The probe's figures, or why there are none (it failed, or never got its cue)."""
    if task is None:
        return None, None
    try:
        # the probe ends long before the batch; a bound, not a wait
        return await asyncio.wait_for(task, 120.0), None
    except Exception as error:  # the burst's figures stand without the probe's
        return None, f"{type(error).__name__}: {error}"


def _job_times(
    views: list[dict[str, Any]], zero_wall: float
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """requestedAt, startedAt and (completed jobs') finishedAt of each job, from the start."""
    requested: dict[str, float] = {}
    started: dict[str, float] = {}
    finished: dict[str, float] = {}
    for view in views:
        job_id, stamps = str(view["jobId"]), view["timestamps"]
        if (at := since(stamps.get("requestedAt"), zero_wall)) is not None:
            requested[job_id] = at
        if (at := since(stamps.get("startedAt"), zero_wall)) is not None:
            started[job_id] = at
        at = since(stamps.get("finishedAt"), zero_wall)
        if view["status"] == "completed" and at is not None:
            finished[job_id] = at
    return requested, started, finished


async def run_ours(
    stack: BenchStack,
    source: str,
    jobs: int,
    slices: int,
    rate: float,
    warmup: bool,
    pause_s: float,
    timeout_s: float,
    probe_source: str | None = None,
    codec: str | None = None,
) -> OursRun:
    """The burst of `jobs` batch jobs (in `codec`, or the API's default), and the interactive
    probe behind it when `probe_source` (the study under the probe tenant's prefix) is given."""
    target = f"s3://{stack.config.bucket}/{TENANT}/out/"
    pids = service_pids(stack.config)
    async with _client(stack, TENANT) as http, _client(stack, PROBE_TENANT) as probe_http:
        warmup_s = None
        if warmup:  # one job first: the pool warm, and GET /queue has a pace to estimate from
            began = time.perf_counter()
            await wait_ended(http, await _submit(http, source, target, rate, codec), timeout_s)
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

            async def submit_one() -> None:
                burst.job_ids.append(await _submit(http, source, target, rate, codec))

            await asyncio.gather(*(submit_one() for _ in range(jobs)))
            submitted_s = time.perf_counter() - zero
            loops = [
                asyncio.create_task(read_loop(http, burst, pause_s, stop)),
                asyncio.create_task(queue_loop(http, burst, zero_wall, stop)),
                asyncio.create_task(queue_loop(probe_http, burst, zero_wall, stop)),
            ]
            probe_task = None
            if probe_source is not None:
                probe_target = f"s3://{stack.config.bucket}/{PROBE_TENANT}/out/"
                probe_task = asyncio.create_task(
                    run_probe(
                        probe_http,
                        probe_source,
                        probe_target,
                        rate,
                        burst.first_started,
                        lambda: read_queue(probe_http, burst, zero_wall),
                        zero_wall,
                        timeout_s,
                    )
                )
            try:
                await asyncio.wait_for(stop.wait(), timeout_s)
            except TimeoutError:
                stop.set()
            await asyncio.gather(*loops)
            probe, probe_error = await _probe_outcome(probe_task)
        cpu = cpu_used(cpu_before, cpu_seconds(pids))
        bench_cpu = _self_cpu() - self_before
        views = [(await http.get(f"/jobs/{job_id}")).json() for job_id in burst.job_ids]
        trail = (await http.get(f"/jobs/{burst.job_ids[-1]}/events")).json()
    requested, started, finished = _job_times(views, zero_wall)
    if probe is not None and probe.started_s is not None:
        started[probe.job_id] = probe.started_s
    if probe is not None and probe.status == "completed" and probe.ended_s is not None:
        finished[probe.job_id] = probe.ended_s
    encoded = [e["occurredAt"] for e in trail["events"] if e["type"] == "SliceEncoded"]
    first_slice = min((since(s, zero_wall) or 0.0 for s in encoded), default=None)
    done = [finished[str(v["jobId"])] for v in views if str(v["jobId"]) in finished]
    # the probe's study ran on the same stack during the burst: its share of the CPU, by
    # slices, is not the batch's
    probe_slices = (probe.slices_total or 0) if probe is not None else 0
    batch_share = jobs * slices / (jobs * slices + probe_slices)
    notes = [
        f"{jobs} POST /jobs answered 202 within {submitted_s:.2f} s",
        f"statuses at the end: {sorted(v['status'] for v in views)}",
        f"GET /jobs/{{id}} of every job in turn, {pause_s:g} s between rounds: "
        f"{len(burst.read_ms)} reads, p50 "
        f"{percentile(burst.read_ms, 50):.0f} ms, p99 {percentile(burst.read_ms, 99):.0f} ms, "
        f"max {max(burst.read_ms, default=float('nan')):.0f} ms, statuses {burst.read_statuses}",
        f"GET /queue (both tenants, each every second): {len(burst.queue_ms)} reads, p50 "
        f"{percentile(burst.queue_ms, 50):.0f} ms, p99 {percentile(burst.queue_ms, 99):.0f} ms",
        f"{sampler.samples} samples; the sampler itself used {sampler.sampler_cpu_s:.1f} CPU-s; "
        f"the bench process (sampler and polling client) {bench_cpu:.1f} CPU-s",
        f"CPU-seconds per study of the compressor alone (service and encoder pool): "
        f"{cpu.get('compressor', 0.0) * batch_share / jobs:.1f}; of the API (serving the "
        f"polling) {cpu.get('api', 0.0) * batch_share / jobs:.1f}",
    ]
    used = sorted(cpu.items(), key=lambda item: -item[1])
    notes.append(
        "CPU-seconds of the stack's processes over the burst: "
        + ", ".join(f"{name} {seconds:.1f}" for name, seconds in used)
    )
    if probe_slices:
        notes.append(
            f"the interactive probe's {probe_slices} slices ran during the burst: the CPU "
            f"figures are the stack's times {batch_share:.3f} (the batch's share of the slices)"
        )
    if probe_error is not None:
        notes.append(f"the interactive probe gave no figures: {probe_error}")
    contender = Contender(
        name="ours (whole stack)" if codec is None else f"ours (whole stack), {codec}",
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
        study_cpu_share=batch_share,
        slices_done=sum(int(v.get("slicesDone") or 0) for v in views),
        api_read_p99_ms=percentile(burst.read_ms, 99),
        notes=notes,
        machine_busy_s=sampler.machine_busy_s,
        bench_cpu_s=bench_cpu,
        interactive_wait_s=None if probe is None else probe.after_queued(probe.started_s),
        interactive_turnaround_s=None if probe is None else probe.after_queued(probe.ended_s),
    )
    return OursRun(contender, burst, requested, started, finished, warmup_s, probe, probe_error)
