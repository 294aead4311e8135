"""Load benchmark (issue 7 item 6, issue 5's API latency target): 200 jobs of 20 slices at once.

On backends of its own (embedded Kafka, Postgres durable, S3Proxy, free ports) with progress,
notifier, api and two compressors (one encoder process each: together they fill the 2 cores):

1. submits `--jobs` jobs of one `--slices`-slice synthetic 512x512 CT series through
   `POST /jobs`, all at once (concurrent requests);
2. while they run, `--readers` async clients loop on `GET /jobs/{id}` (random submitted ids)
   and one writer sends `POST /jobs` of a 1-slice series every `--post-every` seconds;
3. waits until the projection shows every job ended, sampling the RSS of every service
   (process and children) and backend meanwhile.

Reports: how many jobs completed; jobs/minute and slices/s from the first submission to the
last job's end, against the raw encode limit of the cores (the same slices through the real
`EncoderPool` with 2 processes, no I/O); requests/s and p50/p99/max latency of the reads and
writes (issue 5's target: read p99 < 100 ms while compression saturates the cores); peak RSS per
process; whether each partition's queue drained in submission order (jobs ordered by their
request's offset in the partition must have started in that order, from the projection's
timestamps). The API's per-tenant rate limit and queue cap are raised for the run (the bench
is one tenant hammering on purpose) and say so in the results.

    .venv/bin/python -m bench.bench_load            # 200 x 20 slices (~10-15 min on 2 cores)
    .venv/bin/python -m bench.bench_load --quick    # 20 x 10 slices, a short proof

Writes bench/results/load.json (load-quick.json with --quick). Needs Java and Maven for the
embedded Kafka, as `dicompress up`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from bench.bench_encode import encode_series
from bench.paths import CLASSPATH_CACHE, RESULTS, ROOT

from dicompress_stack.synthetic_ct import generate_series
from dicompress_stack.testing import restartable_backends

sys.path.insert(0, str(ROOT / "tests" / "faults"))
# the fault tests' stack harness (services as processes on backends of our own)
from faults_rig import SERIES_PREFIX, TENANT, Rig, as_test_backends, service_env, upload_series  # type: ignore[import-not-found]

TINY_PREFIX = f"{TENANT}/tiny/"
ENDED = ("completed", "failed", "cancelled")


@dataclass
class Latencies:
    """Request latencies (ms) and statuses of one kind of request."""

    ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    errors: int = 0

    def add(self, began: float, status: int) -> None:
        self.ms.append((time.perf_counter() - began) * 1000)
        self.statuses[status] += 1

    def summary(self, seconds: float) -> dict[str, Any]:
        ordered = sorted(self.ms)

        def pct(p: float) -> float | None:
            return (
                round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1) if ordered else None
            )

        return {
            "requests": len(ordered),
            "per_s": round(len(ordered) / seconds, 1) if seconds else None,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": round(ordered[-1], 1) if ordered else None,
            "mean_ms": round(statistics.fmean(ordered), 1) if ordered else None,
            "statuses": dict(self.statuses),
            "transport_errors": self.errors,
        }


def job_body(rig: Rig, prefix: str, priority: str = "batch") -> dict[str, Any]:
    """A job of `prefix`; the bulk goes to the batch lane, as a script's would."""
    return {
        "s3SourceUri": f"s3://{rig.bucket}/{prefix}",
        "s3TargetUri": f"s3://{rig.bucket}/{TENANT}/out/",
        "compressionRate": 20,
        "priority": priority,
    }


async def submit_all(http: httpx.AsyncClient, rig: Rig, jobs: int, lat: Latencies) -> list[str]:
    """POST every job at once; ids in the order the API acknowledged them."""
    ids: list[str] = []

    async def one() -> None:
        began = time.perf_counter()
        answer = await http.post("/jobs", json=job_body(rig, SERIES_PREFIX))
        lat.add(began, answer.status_code)
        if answer.status_code != 202:
            raise RuntimeError(f"POST /jobs: {answer.status_code} {answer.text}")
        ids.append(answer.json()["jobId"])

    await asyncio.gather(*(one() for _ in range(jobs)))
    return ids


async def reader(
    http: httpx.AsyncClient, ids: list[str], lat: Latencies, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        began = time.perf_counter()
        try:
            answer = await http.get(f"/jobs/{random.choice(ids)}")  # noqa: S311 (not crypto)
        except httpx.TransportError:
            lat.errors += 1
            continue
        lat.add(began, answer.status_code)


async def writer(
    http: httpx.AsyncClient,
    rig: Rig,
    every_s: float,
    lat: Latencies,
    ids: list[str],
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        began = time.perf_counter()
        try:
            answer = await http.post("/jobs", json=job_body(rig, TINY_PREFIX))
        except httpx.TransportError:
            lat.errors += 1
        else:
            lat.add(began, answer.status_code)
            if answer.status_code == 202:
                ids.append(answer.json()["jobId"])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


def processes(rig: Rig) -> dict[str, int]:
    """The pid of every service instance and backend."""
    assert rig.backends is not None
    pids = {role: service.process.pid for role, service in rig.services.items()}
    pids["kafka"] = rig.backends.kafka.pid
    pids["s3 (S3Proxy)"] = rig.backends.s3.pid
    postgres = rig.backends.postgres.pid()
    if postgres is not None:
        pids["postgres"] = postgres
    return pids


async def sample_rss(pids: dict[str, int], peaks: dict[str, int], stop: asyncio.Event) -> None:
    """Peak resident memory of each process with its children (the compressor's encoders,
    Postgres's backends), sampled every half second."""
    while not stop.is_set():
        for name, pid in pids.items():
            try:
                root = psutil.Process(pid)
                tree = [root, *root.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in tree if p.is_running())
            except psutil.Error:
                continue
            peaks[name] = max(peaks.get(name, 0), rss)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def ended_count(url: str, ids: list[str]) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM jobs WHERE job_id = ANY($1::uuid[]) AND status = ANY($2)",
                ids,
                list(ENDED),
            )
        )
    finally:
        await conn.close()


async def drain_order(url: str, ids: list[str]) -> dict[str, Any]:
    """Per partition of the requests topic: the jobs in their request's offset order, and how
    many started before a job submitted ahead of them in the same partition."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            'SELECT e.partition, e."offset", j.started_at, j.status, j.attempt FROM job_events e'
            " JOIN jobs j USING (job_id) WHERE e.seq = 0 AND e.job_id = ANY($1::uuid[])",
            ids,
        )
    finally:
        await conn.close()
    by_partition: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_partition[row["partition"]].append(row)
    result: dict[str, Any] = {}
    for partition, found in sorted(by_partition.items()):
        found.sort(key=lambda r: r["offset"])
        starts = [r["started_at"] for r in found if r["started_at"] is not None]
        inversions = sum(later < earlier for earlier, later in itertools.pairwise(starts))
        result[str(partition)] = {
            "jobs": len(found),
            "started_out_of_order": inversions,
            "re_runs": sum((r["attempt"] or 1) > 1 for r in found),
        }
    return result


async def raw_encode_limit(slices: int) -> float:
    """Slices/s of the same series through the real encoder pool (2 processes), no I/O."""
    series = dict(generate_series(n_slices=slices, seed=5))
    seconds, _ = await encode_series(series, processes=2, rate=20)
    return slices / seconds


async def run(rig: Rig, args: argparse.Namespace) -> dict[str, Any]:
    await rig.start_all("compressor-2")
    # the cores' raw encode rate, measured on the idle stack before and again after the run (the
    # machine may be shared: the two tell how steady its capacity was)
    limit_before = await raw_encode_limit(args.slices * 2)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    headers = {"Authorization": f"Bearer {rig.token}"}
    api = rig.services["api"].base_url
    reads, writes, burst = Latencies(), Latencies(), Latencies()
    peaks: dict[str, int] = {}
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(processes(rig), peaks, stop))
    async with httpx.AsyncClient(base_url=api, headers=headers, timeout=60, limits=limits) as http:
        began = time.monotonic()
        ids = await submit_all(http, rig, args.jobs, burst)
        submitted_s = time.monotonic() - began
        print(f"{len(ids)} jobs submitted in {submitted_s:.1f} s", flush=True)
        extra: list[str] = []
        load_began = time.monotonic()
        hammer = [asyncio.create_task(reader(http, ids, reads, stop)) for _ in range(args.readers)]
        hammer.append(asyncio.create_task(writer(http, rig, args.post_every, writes, extra, stop)))
        last_print = 0.0
        while (done := await ended_count(rig.env["DATABASE_URL"], ids)) < len(ids):
            if time.monotonic() - last_print > 15:
                print(
                    f"  {done}/{len(ids)} ended after {time.monotonic() - began:.0f} s", flush=True
                )
                last_print = time.monotonic()
            if time.monotonic() - began > args.timeout:
                break
            await asyncio.sleep(1.0)  # polling the projection: there is no event to wait on
        finished_s = time.monotonic() - began
        hammered_s = time.monotonic() - load_began
        stop.set()
        await asyncio.gather(*hammer, sampler)
    # the writer's tiny jobs finish shortly after; wait for them too (bounded)
    deadline = time.monotonic() + 60
    while await ended_count(rig.env["DATABASE_URL"], extra) < len(extra):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    statuses = await status_counts(rig.env["DATABASE_URL"], ids + extra)
    order = await drain_order(rig.env["DATABASE_URL"], ids)
    limit_after = await raw_encode_limit(args.slices * 2)
    limit = (limit_before + limit_after) / 2
    slices_done = args.jobs * args.slices
    return {
        "jobs": args.jobs,
        "slices_per_job": args.slices,
        "submitted_in_s": round(submitted_s, 2),
        "all_ended_after_s": round(finished_s, 1),
        "timed_out": done < len(ids),
        "statuses_of_load_jobs": await status_counts(rig.env["DATABASE_URL"], ids),
        "statuses_with_writer_jobs": statuses,
        "writer_jobs": len(extra),
        "jobs_per_minute": round(args.jobs / finished_s * 60, 1),
        "slices_per_s": round(slices_done / finished_s, 2),
        "raw_encode_slices_per_s_2_processes": round(limit, 2),
        "raw_encode_before_after": [round(limit_before, 2), round(limit_after, 2)],
        "pipeline_vs_raw_encode": round(slices_done / finished_s / limit, 3),
        "submit_burst": burst.summary(submitted_s),
        "reads_get_job": reads.summary(hammered_s),
        "writes_post_job": writes.summary(hammered_s),
        "read_p99_target_ms": 100,
        "peak_rss_mib": {k: round(v / 2**20, 1) for k, v in sorted(peaks.items())},
        "drain_order_by_partition": order,
    }


async def status_counts(url: str, ids: list[str]) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT status, count(*) AS n FROM jobs WHERE job_id = ANY($1::uuid[]) GROUP BY 1",
            ids,
        )
    finally:
        await conn.close()
    found = {r["status"]: int(r["n"]) for r in rows}
    found["not_in_projection"] = len(ids) - sum(found.values())
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--slices", type=int, default=20)
    parser.add_argument("--readers", type=int, default=4, help="concurrent GET /jobs/{id} loops")
    parser.add_argument("--post-every", type=float, default=2.0, help="seconds between POSTs")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--quick", action="store_true", help="20 jobs of 10 slices")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.slices = 20, 10
    out = args.out or RESULTS / f"load{'-quick' if args.quick else ''}.json"

    api_overrides = {
        # one tenant hammers on purpose: the per-tenant limits would answer 429/503 instead
        "API_RATE_LIMIT_PER_S": "100000",
        "API_RATE_LIMIT_BURST": "100000",
        "API_MAX_QUEUE_LENGTH": str(args.jobs + 1000),
        "API_QUEUE_PARALLELISM": "2",
    }
    started = time.monotonic()
    with restartable_backends(CLASSPATH_CACHE, durable=True) as backends:
        env = service_env(as_test_backends(backends), compressor_processes=1)
        env |= api_overrides | {"LOG_LEVEL": "WARNING"}
        upload_series(env, args.slices)
        upload_series(env, 1, TINY_PREFIX)
        rig = Rig(backends, env, Path(tempfile.mkdtemp(prefix="bench-load-")), args.slices)
        try:
            figures = asyncio.run(run(rig, args))
        finally:
            rig.stop_all()
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "load_avg_at_end": os.getloadavg()},
        "setup": {
            "compressors": 2,
            "encoder_processes_each": 1,
            "readers": args.readers,
            "post_every_s": args.post_every,
            "api_overrides": api_overrides,
            "postgres": "durable (fsync on)",
        },
        "seconds": round(time.monotonic() - started, 1),
        "figures": figures,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(json.dumps(figures, indent=2, default=str))
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
