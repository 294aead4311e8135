"""One job of the bench through the API, timed three ways: by the client (the API's 202 to the
terminal status seen by `GET /jobs/{id}` every 0.1 s), by the job's own events (requestedAt,
startedAt, its slices, finishedAt) and by the job's `wallMs` (the owner's run).

The events split the job into the model's parts (`model`): *fixed* (requestedAt to JobStarted:
the request taken, the run registered, the source's headers read and laid out), *encode*
(JobStarted to the last slice made: the last range's marker seen in S3 when the job was spread,
else its last SliceEncoded) and *tail* (that to finishedAt: what the owner still had to fetch
into the ZIP, then the manifest and the ZIP's completion). The task markers
(`{tenant}/jobs/{id}/tasks/<first>`, written when a range is done) are listed every 0.1 s while
the job runs, and say which worker made each range.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from bench.bench_products import load_average
from bench.concurrency.client import ENDED, since, submit
from bench.products.cpu import cpu_seconds, cpu_used
from bench.split.stack import SplitStack

TENANT = "bench-split"
# a whole study sent by a script, no one at the screen: the batch lane (the one bench_concurrency
# measures); its tasks go to the batch tasks topic
PRIORITY = "batch"
POLL_S = 0.1
# the markers' listing: the resolution of the encode / assembly boundary of a spread job
MARKER_POLL_S = 0.1
FETCH_AT_ONCE = 16  # as the owner fetches a spread job's slices (compressor job.SPREAD_IN_FLIGHT)


def put_study(split: SplitStack, files: list[Path], name: str) -> str:
    """The study's files under the tenant's prefix `series/<name>/`; its s3:// URI."""
    stack = split.bench
    s3, prefix = stack.handle.s3_client(), f"{TENANT}/series/{name}/"
    for path in files:
        s3.put_object(Bucket=stack.config.bucket, Key=prefix + path.name, Body=path.read_bytes())
    return f"s3://{stack.config.bucket}/{prefix}"


@dataclass(frozen=True)
class JobRun:
    """What one job did; seconds unless named otherwise, None where the job did not say."""

    label: str  # its configuration
    number: int
    job_id: str
    status: str
    slices: int
    client_s: float  # the API's 202 -> the terminal status seen
    events_s: float | None  # requestedAt -> finishedAt
    wall_ms: float | None  # the job's own wallMs
    fixed_s: float | None
    encode_s: float | None
    tail_s: float | None
    owner: str
    ranges: dict[str, list[int]]  # instance name -> first index of each range it made
    encode_ms_per_slice: float | None  # the encoder's own time per slice (timings.encodeMs / N)
    cpu: dict[str, float]  # CPU seconds of each service's process tree during the job
    load: str  # load average when it was submitted
    poll_statuses: dict[int, int]  # GET /jobs/{id} answers by status code
    fetch_s: float | None = None  # the bench's GET of every stored slice, 16 at once
    range_done_s: dict[int, float] | None = None  # first index -> its marker seen, from JobStarted

    @property
    def spread(self) -> bool:
        return bool(self.ranges)

    def range_count(self) -> int:
        return sum(len(firsts) for firsts in self.ranges.values())


async def _poll(
    http: httpx.AsyncClient, job_id: str, timeout_s: float, statuses: dict[int, int]
) -> dict[str, Any]:
    """`GET /jobs/{id}` every POLL_S until the job has ended; its last answer."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = await http.get(f"/jobs/{job_id}")
        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
        if answer.status_code == 200 and answer.json().get("status") in ENDED:
            body: dict[str, Any] = answer.json()
            return body
        await asyncio.sleep(POLL_S)
    raise RuntimeError(f"job {job_id} did not end in {timeout_s:.0f} s")


async def _watch_markers(
    s3: Any, bucket: str, prefix: str, seen: dict[int, float], stop: asyncio.Event
) -> None:
    """When each task marker under `prefix` was first listed (time.time()), until `stop`."""

    def listing() -> list[str]:
        found = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        return [str(item["Key"]) for item in found]

    while True:
        keys = await asyncio.to_thread(listing)
        now = time.time()
        for key in keys:
            name = key.rsplit("/", 1)[1]
            if name.isdigit():  # not S3Proxy's `<name>-<uuid>` of a write still under way
                seen.setdefault(int(name), now)
        if stop.is_set():
            return
        try:
            await asyncio.wait_for(stop.wait(), MARKER_POLL_S)
        except TimeoutError:
            continue


def _marker_workers(s3: Any, bucket: str, prefix: str, firsts: list[int]) -> dict[int, str]:
    """The worker id each marker names (`{"worker": ...}`)."""
    found = {}
    for first in firsts:
        body = s3.get_object(Bucket=bucket, Key=f"{prefix}{first:05d}")["Body"].read()
        found[first] = str(orjson.loads(body)["worker"])
    return found


def fetch_all(split: SplitStack, prefix: str) -> float:
    """Seconds to GET every object under `prefix`, FETCH_AT_ONCE at a time: what the owner's
    assembly costs when every slice is already stored (the bench's client, not the owner's)."""
    stack = split.bench
    s3, bucket = stack.handle.s3_client(), stack.config.bucket
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    began = time.perf_counter()
    with ThreadPoolExecutor(FETCH_AT_ONCE) as pool:
        list(pool.map(lambda k: s3.get_object(Bucket=bucket, Key=k)["Body"].read(), keys))
    return time.perf_counter() - began


def _event_at(trail: dict[str, Any], kind: str, zero_wall: float) -> list[float]:
    return [
        at
        for event in trail["events"]
        if event["type"] == kind and (at := since(event["occurredAt"], zero_wall)) is not None
    ]


async def run_job(
    split: SplitStack,
    source: str,
    rate: float,
    label: str,
    number: int,
    timeout_s: float,
    fetch: bool = False,
) -> JobRun:
    """Submit one job on `source` and follow it to its end; `fetch`: time the fetch probe."""
    stack = split.bench
    bucket, s3 = stack.config.bucket, stack.handle.s3_client()
    pids = split.pids
    statuses: dict[int, int] = {}
    headers = {"Authorization": f"Bearer {stack.handle.token(TENANT)}"}
    async with httpx.AsyncClient(
        base_url=stack.config.api_url, headers=headers, timeout=60.0
    ) as http:
        load, cpu_before = load_average(), cpu_seconds(pids)
        target = f"s3://{bucket}/{TENANT}/out/"
        job_id = str((await submit(http, source, target, rate, PRIORITY))["jobId"])
        accepted = time.perf_counter()
        own = f"{TENANT}/jobs/{job_id}/"
        seen: dict[int, float] = {}
        stop = asyncio.Event()
        watcher = asyncio.create_task(_watch_markers(s3, bucket, own + "tasks/", seen, stop))
        try:
            view = await _poll(http, job_id, timeout_s, statuses)
        finally:
            stop.set()
            await watcher
        client_s = time.perf_counter() - accepted
        cpu = cpu_used(cpu_before, cpu_seconds(pids))
        trail = (await http.get(f"/jobs/{job_id}/events")).json()
    names = split.worker_names()
    workers = await asyncio.to_thread(_marker_workers, s3, bucket, own + "tasks/", sorted(seen))
    ranges: dict[str, list[int]] = {}
    for first, worker in sorted(workers.items()):
        ranges.setdefault(names.get(worker, worker), []).append(first)
    stamps = view["timestamps"]
    zero = since(stamps["requestedAt"], 0.0) or 0.0  # the API's time of the request
    started = since(stamps.get("startedAt"), zero)
    finished = since(stamps.get("finishedAt"), zero)
    slice_times = _event_at(trail, "SliceEncoded", zero)
    made = max(seen.values()) - zero if seen else max(slice_times, default=None)
    done = int(view.get("slicesDone") or 0)
    encode_ms = view["timings"].get("encodeMs")
    return JobRun(
        label=label,
        number=number,
        job_id=job_id,
        status=str(view.get("status")),
        slices=int(view.get("slicesTotal") or 0),
        client_s=client_s,
        events_s=finished,
        wall_ms=view["timings"].get("wallMs"),
        fixed_s=started,
        encode_s=None if made is None or started is None else made - started,
        tail_s=None if made is None or finished is None else finished - made,
        owner=names.get(str(view.get("worker")), str(view.get("worker"))),
        ranges=ranges,
        encode_ms_per_slice=encode_ms / done if encode_ms and done else None,
        cpu=cpu,
        load=load,
        poll_statuses=statuses,
        fetch_s=await asyncio.to_thread(fetch_all, split, own + "slices/") if fetch else None,
        range_done_s={first: at - zero - (started or 0.0) for first, at in sorted(seen.items())},
    )
