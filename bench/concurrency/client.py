"""The bench's calls to the API, shared by the burst (`ours.py`) and the interactive probe
(`probe.py`): submit a job in a lane, wait for its end, read a timestamp against the burst's
start."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import httpx

ENDED = ("completed", "failed", "cancelled")


def since(stamp: str | None, zero_wall: float) -> float | None:
    """An ISO timestamp of the API as seconds after `zero_wall` (the burst's start)."""
    return None if stamp is None else datetime.fromisoformat(stamp).timestamp() - zero_wall


async def submit(
    http: httpx.AsyncClient,
    source: str,
    target: str,
    rate: float,
    priority: str,
    codec: str | None = None,
) -> dict[str, Any]:
    """`POST /jobs` in lane `priority` (with `codec`, or the API's default); the 202 answer.
    Anything else (a 429 tenant-limit included) raises: the run would measure something other
    than what it says."""
    body: dict[str, Any] = {
        "s3SourceUri": source,
        "s3TargetUri": target,
        "compressionRate": rate,
        "priority": priority,
    }
    if codec is not None:
        body["codec"] = codec
    answer = await http.post("/jobs", json=body)
    if answer.status_code != 202:
        raise RuntimeError(f"POST /jobs ({priority}): {answer.status_code} {answer.text[:300]}")
    accepted: dict[str, Any] = answer.json()
    return accepted


async def wait_ended(
    http: httpx.AsyncClient, job_id: str, timeout_s: float, pause_s: float = 0.5
) -> dict[str, Any]:
    """`GET /jobs/{id}` until the job has ended; its last answer."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job: dict[str, Any] = (await http.get(f"/jobs/{job_id}")).json()
        if job.get("status") in ENDED:
            return job
        await asyncio.sleep(pause_s)
    raise RuntimeError(f"job {job_id} did not end in {timeout_s:.0f} s")
