"""`dicompress demo`: the main job, end to end, on the embedded stack.

Brings the stack up if none is running, puts a CT series into S3 (a synthetic 399-slice series
by default, or `--source DIR`), submits it through the HTTP API, shows live progress from the
WebSocket, and prints the result. Exit status 0 only if the job completed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicompress_stack import synthetic_ct
from dicompress_stack.client import get_job, submit_job
from dicompress_stack.watch import outcome, watch

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_s3 import S3Client


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", type=Path, help="a folder of DICOM files (default: synthetic)")
    parser.add_argument("--slices", type=int, default=399, help="synthetic series length")
    parser.add_argument("--rate", type=float, default=100, help="compression ratio to ask for")
    parser.add_argument("--tenant", default="demo", help="tenant the job belongs to")


def series_files(args: argparse.Namespace) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every file to upload: the user's folder or the synthetic series."""
    if args.source is None:
        yield from synthetic_ct.generate_series(n_slices=args.slices)
        return
    if not args.source.is_dir():
        raise SystemExit(f"--source {args.source}: not a folder")
    files = sorted(p for p in args.source.rglob("*") if p.is_file())
    if not files:
        raise SystemExit(f"--source {args.source}: no file in it")
    for path in files:
        yield path.relative_to(args.source).as_posix(), path.read_bytes()


def upload_series(
    s3: S3Client, bucket: str, prefix: str, files: Iterator[tuple[str, bytes]]
) -> int:
    """Upload every file under `prefix` (threads: S3 PUTs are I/O); returns the bytes sent."""
    total = 0

    def put(item: tuple[str, bytes]) -> int:
        name, data = item
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=data)
        return len(data)

    with ThreadPoolExecutor(max_workers=8) as pool:
        for size in pool.map(put, files):
            total += size
    return total


def report(event: dict[str, Any], job: dict[str, Any], seconds: float) -> str:
    """The closing summary a person reads."""
    if event["type"] != "JobCompleted":
        return f"job {event['job_id']} {event['type']}: {event.get('reason', '')}"
    mb = 1024 * 1024
    lines = [
        f"job {event['job_id']} completed: {event['slices_encoded']} slices encoded, "
        f"{event['slices_failed']} failed",
        f"  size        {event['bytes_in'] / mb:.1f} MiB -> {event['bytes_out'] / mb:.2f} MiB "
        f"(ZIP {event['artifact_bytes'] / mb:.2f} MiB)",
        f"  ratio       {event['ratio']:.1f}:1 (pixel bytes / codestream bytes)",
        f"  timings     download {event['download_ms'] / 1000:.2f} s, "
        f"encode {event['encode_ms'] / 1000:.2f} s of CPU, "
        f"upload {event['upload_ms'] / 1000:.2f} s, worker wall {event['wall_ms'] / 1000:.2f} s",
        f"  end to end  {seconds:.2f} s from submit to the completion event",
        f"  projection  status={job.get('status')} "
        f"{job.get('slicesDone')}/{job.get('slicesTotal')} slices",
        f"  artifact    {event['artifact_uri']}",
    ]
    return "\n".join(lines)


def run_demo(args: argparse.Namespace, endpoints: dict[str, str], s3: S3Client, token: str) -> int:
    bucket = endpoints["S3_BUCKET"]
    label = args.source.name if args.source else f"synthetic-ct-{args.slices}"
    prefix = f"{args.tenant}/sources/{label}/"
    started = time.monotonic()
    sent = upload_series(s3, bucket, prefix, series_files(args))
    print(
        f"uploaded {sent / 1024 / 1024:.1f} MiB to s3://{bucket}/{prefix} "
        f"in {time.monotonic() - started:.1f} s"
    )
    answer = submit_job(
        endpoints["API_URL"],
        token,
        {
            "s3SourceUri": f"s3://{bucket}/{prefix}",
            "s3TargetUri": f"s3://{bucket}/{args.tenant}/results/",
            "compressionRate": args.rate,
        },
    )
    job_id = answer["jobId"]
    print(f"submitted job {job_id} (rate {args.rate:g}); live progress from {endpoints['WS_URL']}")
    submitted = time.monotonic()
    # the same client as `dicompress watch`: a dropped notifier connection is resumed
    progress = asyncio.run(watch(endpoints["WS_URL"], token, job_id))
    seconds = time.monotonic() - submitted
    terminal = progress.terminal
    if terminal is None:  # the end came as a snapshot (a resume past the log): no figures
        print(outcome(progress))
    else:
        job = _wait_projection(endpoints["API_URL"], token, job_id, terminal["type"])
        print(report(terminal, job, seconds))
    return 0 if progress.status == "completed" else 1


def _wait_projection(api_url: str, token: str, job_id: str, terminal: str) -> dict[str, Any]:
    """The projection trails the log by a few ms: wait (bounded) until it shows the end."""
    want = {"JobCompleted": "completed", "JobFailed": "failed", "JobCancelled": "cancelled"}
    deadline = time.monotonic() + 10
    job = get_job(api_url, token, job_id)
    while job.get("status") != want[terminal] and time.monotonic() < deadline:
        time.sleep(0.1)
        job = get_job(api_url, token, job_id)
    return job


def main(args: argparse.Namespace) -> int:
    """Entry of `dicompress demo` (the CLI parsed `args`, including `data_dir`)."""
    # imported here: the stack pulls in boto3 and the launchers, which only the demo needs
    from dicompress_stack import stack as stack_mod

    with ExitStack() as cleanup:
        running = stack_mod.ensure_running(args.data_dir, cleanup)
        try:
            return run_demo(
                args, running.endpoints(), running.s3_client(), running.token(args.tenant)
            )
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
