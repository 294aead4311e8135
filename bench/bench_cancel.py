"""Cancel latency (issue 19 item 6: the figure a test used to assert, `latency_s < 5`): on the
whole embedded stack (`bench.ingest.stack.bench_stack`, free ports, temp data dir), a series of
`--slices` slices is put under the tenant's prefix; each run submits a job through the API,
waits (GET /jobs/{id}) until its first slice is encoded, then `POST /jobs/{id}/cancel` and
measures:

- worker: the `JobCancelled` event's own time minus the moment the API accepted the cancel
  (the compressor's reaction, by the event's clock: same machine);
- API: until `GET /jobs/{id}` (polled every 20 ms) says cancelled (what a client sees);
- the slices encoded by then, of the total (it stopped before the end).

    .venv/bin/python -m bench.bench_cancel [--slices 120] [--repeat 5]

Figures only, no asserts; the target is 1 s. Needs Java and Maven (Kafka, S3Proxy).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import datetime
from typing import Any

import httpx
from bench.ingest.stack import bench_stack
from bench.paths import classpath_cache

from dicompress_stack.synthetic_ct import slice_bytes

TENANT = "bench"
POLL_S = 0.02


def _wait(http: httpx.Client, job_id: str, done: Any, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job: dict[str, Any] = http.get(f"/jobs/{job_id}").json()
        if done(job):
            return job
        time.sleep(POLL_S)
    raise RuntimeError(f"job {job_id} did not get there in {timeout_s} s: {job}")


def one_run(http: httpx.Client, bucket: str, prefix: str) -> dict[str, float]:
    answer = http.post(
        "/jobs",
        json={
            "s3SourceUri": f"s3://{bucket}/{prefix}",
            "s3TargetUri": f"s3://{bucket}/{TENANT}/cancelled/",
            "compressionRate": 100,
        },
    )
    answer.raise_for_status()
    job_id = answer.json()["jobId"]
    _wait(http, job_id, lambda j: (j.get("slicesDone") or 0) >= 1)
    cancel = http.post(f"/jobs/{job_id}/cancel", json={"reason": "bench"})
    accepted = time.time()
    accepted_mono = time.monotonic()
    cancel.raise_for_status()
    job = _wait(http, job_id, lambda j: j["status"] in ("cancelled", "completed", "failed"))
    api_s = time.monotonic() - accepted_mono
    trail = http.get(f"/jobs/{job_id}/events").json()
    ended = next((e for e in trail["events"] if e["type"] == "JobCancelled"), None)
    worker_s = (
        float("nan")  # it ended before the cancel reached it
        if ended is None
        else datetime.fromisoformat(ended["occurredAt"]).timestamp() - accepted
    )
    return {
        "worker_s": worker_s,
        "api_s": api_s,
        "done": float(job.get("slicesDone") or 0),
        "total": float(job.get("slicesTotal") or 0),
        "cancelled": 1.0 if job["status"] == "cancelled" else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    # polling every 20 ms is over the API's default rate limit (20/s): raised for this stack
    os.environ.setdefault("API_RATE_LIMIT_PER_S", "1000")
    os.environ.setdefault("API_RATE_LIMIT_BURST", "1000")
    with bench_stack(classpath_cache()) as stack:
        bucket = stack.config.bucket
        prefix = f"{TENANT}/series/cancel/"
        s3 = stack.handle.s3_client()
        for i in range(args.slices):
            s3.put_object(
                Bucket=bucket, Key=f"{prefix}{i:04d}.dcm", Body=slice_bytes(i, args.slices)
            )
        headers = {"Authorization": f"Bearer {stack.handle.token(TENANT)}"}
        base = stack.handle.endpoints()["API_URL"]
        runs = []
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            for n in range(args.repeat):
                run = one_run(http, bucket, prefix)
                runs.append(run)
                print(
                    f"run {n + 1}: worker {run['worker_s']:.3f} s, API {run['api_s']:.3f} s, "
                    f"{run['done']:.0f} of {run['total']:.0f} slices encoded, "
                    f"{'cancelled' if run['cancelled'] else 'NOT cancelled'}",
                    flush=True,
                )
    load = os.getloadavg()
    print(
        f"\ncancel latency over {len(runs)} runs (load average {load[0]:.2f}), target 1 s:\n"
        f"  worker (JobCancelled's time - cancel accepted): median "
        f"{statistics.median(r['worker_s'] for r in runs):.3f} s, "
        f"max {max(r['worker_s'] for r in runs):.3f} s\n"
        f"  API (GET /jobs/{{id}} says cancelled): median "
        f"{statistics.median(r['api_s'] for r in runs):.3f} s, "
        f"max {max(r['api_s'] for r in runs):.3f} s"
    )


if __name__ == "__main__":
    main()
