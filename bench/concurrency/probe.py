"""The interactive probe (issue 18 item 2; docs/SCHEDULING.md, "two lanes, one pool"): once the
batch's first job has started, ONE job of another tenant on the interactive lane, as a person
waiting for one study sends it. Its wait is read from its own timestamps (queued = the API's
`requestedAt`, started = `JobStarted`, ended = `finishedAt`), to set beside what the batch's
last-submitted job waited: the lanes exist so that the first is seconds, not the whole batch.

The tenant may only name sources under its own prefix (the API's default tenant rule), so the
study is copied there inside S3 first, server-side and before the burst, loading nothing
during it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from bench.concurrency.client import since, submit, wait_ended
from bench.ingest.stack import BenchStack

from dicompress_infra.s3 import S3Uri

PROBE_TENANT = "bench-concurrency-probe"
PROBE_PREFIX = f"{PROBE_TENANT}/series/study/"


def copy_series(stack: BenchStack, source: str) -> str:
    """Every object under `source` copied under the probe tenant's prefix; its s3:// URI."""
    uri = S3Uri.parse(source)
    s3 = stack.handle.s3_client()
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=uri.bucket, Prefix=uri.prefix)
    for page in pages:
        for item in page.get("Contents", []):
            name = item["Key"].removeprefix(uri.prefix)
            s3.copy_object(
                Bucket=uri.bucket,
                Key=PROBE_PREFIX + name,
                CopySource={"Bucket": uri.bucket, "Key": item["Key"]},
            )
    return f"s3://{uri.bucket}/{PROBE_PREFIX}"


@dataclass(frozen=True)
class Probe:
    """The interactive job's life, in seconds from the burst's start (None: never got there)."""

    job_id: str
    status: str
    slices_total: int | None
    posted_s: float  # when the bench sent its POST /jobs
    queued_s: float | None
    started_s: float | None
    first_slice_s: float | None
    ended_s: float | None

    def after_queued(self, at: float | None) -> float | None:
        return None if at is None or self.queued_s is None else at - self.queued_s


async def run_probe(
    http: httpx.AsyncClient,
    source: str,
    target: str,
    rate: float,
    batch_started: asyncio.Event,
    after_submit: Callable[[], Awaitable[None]],
    zero_wall: float,
    timeout_s: float,
) -> Probe:
    """Wait for `batch_started`, submit the interactive job with `http` (the probe tenant's
    client), call `after_submit` (a GET /queue while it is likely still queued), and follow
    the job to its end."""
    await batch_started.wait()
    posted_s = time.time() - zero_wall
    job_id = str((await submit(http, source, target, rate, "interactive"))["jobId"])
    await after_submit()
    view = await wait_ended(http, job_id, timeout_s, pause_s=0.25)
    trail = (await http.get(f"/jobs/{job_id}/events")).json()
    encoded = [e["occurredAt"] for e in trail["events"] if e["type"] == "SliceEncoded"]
    stamps = view["timestamps"]
    return Probe(
        job_id=job_id,
        status=str(view["status"]),
        slices_total=view.get("slicesTotal"),
        posted_s=posted_s,
        queued_s=since(stamps.get("requestedAt"), zero_wall),
        started_s=since(stamps.get("startedAt"), zero_wall),
        first_slice_s=min((since(s, zero_wall) or 0.0 for s in encoded), default=None),
        ended_s=since(stamps.get("finishedAt"), zero_wall),
    )
