"""A Mini CT asked for as a client does, timed: `POST /studies/{id}/series/{uid}/mini-ct`, then
`GET /jobs/{id}` until the job ends, the same POST again for its presigned URL, and the artifact
downloaded from S3 through that URL (streamed, bytes counted, nothing kept).

Cold: the first request of a region (202: a job is started). Cached: the same request again
once it is made (200 with `downloadUrl`, no new work). Times are `time.perf_counter()` seconds
from the first POST's start.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

POLL_S = 0.1
TERMINAL = frozenset({"completed", "failed", "cancelled"})


@dataclass
class Asked:
    """One Mini CT request (cold or cached) and what it took."""

    label: str
    first_status: int  # the first POST's HTTP status (202 cold, 200 cached)
    answered_s: float  # the first POST's answer
    job_ended_s: float | None = None  # GET /jobs/{id} first terminal (cold only)
    url_s: float | None = None  # the POST that answered 200 with downloadUrl
    downloaded_s: float | None = None  # the artifact's last byte read
    artifact_bytes: int = 0
    job_status: str = ""
    url_posts: int = 0  # POSTs until one answered with downloadUrl (cold: after the job ended)
    job: dict[str, Any] = field(default_factory=dict)  # GET /jobs/{id} at its end
    error: str = ""


async def download(s3: httpx.AsyncClient, url: str) -> int:
    """GET `url`, streamed; the bytes received (raises on a non-200)."""
    received = 0
    async with s3.stream("GET", url) as answer:
        if answer.status_code != 200:
            await answer.aread()
            raise RuntimeError(f"GET artifact: {answer.status_code} {answer.text[:300]}")
        async for chunk in answer.aiter_raw():
            received += len(chunk)
    return received


async def _post(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    while True:
        answer = await http.post(path, json=body)
        if answer.status_code != 429:
            return answer
        await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))


async def _wait_job(http: httpx.AsyncClient, job_id: str, timeout_s: float) -> dict[str, Any]:
    """GET /jobs/{id} every POLL_S until terminal (404: the projection has not seen it yet)."""
    async with asyncio.timeout(timeout_s):
        while True:
            answer = await http.get(f"/jobs/{job_id}")
            if answer.status_code == 200:
                job: dict[str, Any] = answer.json()
                if job.get("status") in TERMINAL:
                    return job
            elif answer.status_code not in (404, 429):
                raise RuntimeError(f"GET /jobs/{job_id}: {answer.status_code} {answer.text[:300]}")
            await asyncio.sleep(POLL_S)


async def ask(
    http: httpx.AsyncClient,
    s3: httpx.AsyncClient,
    path: str,
    body: dict[str, Any],
    label: str,
    timeout_s: float,
) -> Asked:
    """One request of the region `body` at `path`, followed to its artifact downloaded."""
    started = time.perf_counter()
    answer = await _post(http, path, body)
    asked = Asked(label, answer.status_code, time.perf_counter() - started)
    if answer.status_code not in (200, 202):
        asked.error = f"POST: {answer.status_code} {answer.text[:300]}"
        return asked
    found: dict[str, Any] = answer.json()
    if answer.status_code == 202:
        asked.job = await _wait_job(http, str(found["id"]), timeout_s)
        asked.job_ended_s = time.perf_counter() - started
        asked.job_status = str(asked.job.get("status"))
        if asked.job_status != "completed":
            asked.error = f"job {asked.job_status}: {asked.job.get('reason')}"
            return asked
        # the product's row may lag the job's by a poll: ask until the answer has the URL
        async with asyncio.timeout(timeout_s):
            while True:
                asked.url_posts += 1
                answer = await _post(http, path, body)
                found = answer.json()
                if answer.status_code == 200 and found.get("downloadUrl"):
                    break
                await asyncio.sleep(POLL_S)
    else:
        asked.url_posts = 1
        asked.job_status = str(found.get("status"))
    url = found.get("downloadUrl")
    if not url:
        asked.error = f"answered {found.get('status')} without downloadUrl"
        return asked
    asked.url_s = time.perf_counter() - started
    asked.artifact_bytes = await download(s3, str(url))
    asked.downloaded_s = time.perf_counter() - started
    return asked
