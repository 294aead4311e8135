"""Ingest benchmark (issue 12, "Done when", benchmarks): memory and speed of the ingest service.

On the whole embedded stack (`start_stack` on free ports in a temporary data dir; the ingest
service runs as `dicompress up` runs it):

1. For each `--slices` N (default 399 and 4000): a ZIP of N distinct 512x512 CT slices (~0.5 MB
   each, so ~200 MB and ~2 GB; series of 400; STORED unless `--compression deflated`) is built
   in a temp file, put into the stack's bucket under `bench/uploads/` by multipart upload (boto3,
   16 MiB parts, 4 at once), and announced with `ArchiveUploaded` on the ingest requests topic.
   Until `IngestCompleted` arrives on the ingest events topic, the RSS of the ingest process and
   its children is sampled every 0.2 s. Prints archive size, members, wall time (announced to
   IngestCompleted read), MB/s, idle and peak RSS, and the peak in each quarter of the members
   (flat quarters and equal peaks for 200 MB and 2 GB: memory does not grow with the archive).
2. With `--uploads`: a 399-slice ZIP uploaded through the API by presigned multipart and by the
   streamed `PUT /uploads/stream`: MB/s of each, and seconds from the API's answer to the upload
   to `IngestCompleted` on the topic and to `GET /ingests/{id}` showing it completed (the study
   indexed). Routes missing from the API's OpenAPI document are reported, not guessed at.

    .venv/bin/python -m bench.bench_ingest                    # 399 and 4000 slices
    .venv/bin/python -m bench.bench_ingest --slices 399 --uploads

Figures only, no asserts. Needs Java and Maven (Kafka, S3Proxy), as `dicompress up`, and about
3x the largest archive free on the temp dir's disk (the ZIP, the object, the instances).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from bench.ingest.archive import COMPRESSIONS, StudyArchive, build_study_zip
from bench.ingest.stack import BenchStack, bench_stack
from bench.ingest.uploads import (
    STATUS_ROUTE,
    missing_routes,
    not_measured,
    presigned_upload,
    streamed_upload,
    wait_indexed,
    wait_projected,
)
from bench.ingest.watch import IngestSeen, IngestTopics, RssSampler
from bench.paths import classpath_cache
from boto3.s3.transfer import TransferConfig

from dicompress_schemas import ArchiveUploaded, IngestCompleted, UploadChannel
from dicompress_schemas.envelope import utc_now
from dicompress_schemas.histories import IngestHistory
from dicompress_stack.stack import raise_interrupt

TENANT = "bench"
PER_SERIES = 400
MB = 1e6
PART_BYTES = 16 * 2**20


@dataclass(frozen=True)
class IngestRun:
    """One archive through the ingest service."""

    archive: StudyArchive
    put_seconds: float
    wall_seconds: float
    idle_rss: int
    peak_rss: int
    quarter_peaks: list[int]
    seen: IngestSeen


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def make_archive(workdir: Path, slices: int, compression: str) -> StudyArchive:
    began = time.perf_counter()
    path = workdir / f"study-{slices}-{uuid.uuid4().hex[:8]}.zip"
    archive = build_study_zip(path, slices, PER_SERIES, compression)
    log(
        f"built {path.name}: {archive.size / MB:.0f} MB, {archive.members} members, "
        f"{compression}, in {time.perf_counter() - began:.1f} s"
    )
    return archive


def put_archive(stack: BenchStack, archive: StudyArchive, key: str) -> float:
    """Multipart upload of the archive to the stack's bucket; seconds."""
    config = TransferConfig(
        multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES, max_concurrency=4
    )
    began = time.perf_counter()
    stack.handle.s3_client().upload_file(str(archive.path), stack.config.bucket, key, Config=config)
    return time.perf_counter() - began


def ingest_archive(stack: BenchStack, archive: StudyArchive, timeout_s: float) -> IngestRun:
    """Put the archive into S3 (then delete the local file), announce it, and watch the ingest."""
    ingest_id = uuid.uuid4()
    key = f"{TENANT}/uploads/{ingest_id}/{archive.path.name}"
    put_seconds = put_archive(stack, archive, key)
    log(f"put {archive.size / MB:.0f} MB into S3 in {put_seconds:.1f} s")
    archive.path.unlink()
    head = stack.handle.s3_client().head_object(Bucket=stack.config.bucket, Key=key)
    request = IngestHistory(TENANT, ingest_id, bucket=stack.config.bucket).uploaded(
        bare=True,
        at=utc_now(),
        key=key,
        size=int(head["ContentLength"]),
        etag=str(head.get("ETag", "")).strip('"'),
        file_name=archive.path.name,
        channel=UploadChannel.PRESIGNED,  # multipart straight to S3, as a presigned client does
    )
    return asyncio.run(_watch_ingest(stack, archive, request, put_seconds, timeout_s))


async def _watch_ingest(
    stack: BenchStack,
    archive: StudyArchive,
    request: ArchiveUploaded,
    put_seconds: float,
    timeout_s: float,
) -> IngestRun:
    async with IngestTopics(stack.config.kafka_bootstrap, stack.topics) as topics:
        with RssSampler(stack.ingest_pid) as rss:
            idle = rss.now()
            started = time.perf_counter()
            await topics.request(request)
            seen = await topics.until_terminal(request.ingest_id, timeout_s)
    return IngestRun(
        archive=archive,
        put_seconds=put_seconds,
        wall_seconds=seen.finished_at - started,
        idle_rss=idle,
        peak_rss=rss.peak_between(started, seen.finished_at),
        quarter_peaks=_quarter_peaks(rss, started, seen),
        seen=seen,
    )


def _quarter_peaks(rss: RssSampler, started: float, seen: IngestSeen) -> list[int]:
    """Peak RSS while each quarter of the members was processed (the last ends at the
    terminal event)."""
    times = seen.member_times
    if not times:
        return []
    ends = [times[max(0, round(len(times) * q / 4) - 1)] for q in (1, 2, 3)] + [seen.finished_at]
    starts = [started, *ends[:-1]]
    return [rss.peak_between(a, b) for a, b in zip(starts, ends, strict=True)]


def describe(run: IngestRun) -> str:
    terminal = run.seen.terminal
    if isinstance(terminal, IngestCompleted):
        outcome = (
            f"IngestCompleted: {terminal.instances_stored} stored, {terminal.rejected} rejected"
        )
    else:
        outcome = f"IngestFailed {terminal.error_code}: {terminal.reason}"
    quarters = " / ".join(f"{peak / MB:.0f}" for peak in run.quarter_peaks)
    return (
        f"{run.archive.members} slices ({run.archive.series} series, {run.archive.compression}): "
        f"{run.archive.size / MB:.0f} MB; {outcome}\n"
        f"  ingest wall {run.wall_seconds:.1f} s = {run.archive.size / MB / run.wall_seconds:.1f}"
        f" MB/s ({run.archive.members / run.wall_seconds:.1f} members/s); put into S3 "
        f"{run.put_seconds:.1f} s\n"
        f"  ingest RSS: idle {run.idle_rss / MB:.0f} MB, peak {run.peak_rss / MB:.0f} MB; "
        f"peak per quarter of the members {quarters} MB"
    )


async def uploads_bench(
    stack: BenchStack, workdir: Path, slices: int, compression: str, timeout_s: float
) -> None:
    """Part 2: a ZIP of `slices` slices through each of the API's ways in (module docstring)."""
    token = stack.handle.token(TENANT)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=stack.config.api_url, headers=headers, timeout=httpx.Timeout(600.0)
    ) as http:
        missing = await missing_routes(http)
        if missing:
            print(f"API routes missing (from /openapi.json): {', '.join(missing)}")
        ways = {"presigned": presigned_upload, "streamed": streamed_upload}
        for name, upload in ways.items():
            if any(route.startswith(name) for route in missing):
                print(f"{name} upload: NOT RUN (the API has no route for it)")
                continue
            archive = make_archive(workdir, slices, compression)
            try:
                async with IngestTopics(stack.config.kafka_bootstrap, stack.topics) as topics:
                    done = await upload(http, archive.path, archive.size)
                    seen, projected, indexed = await asyncio.gather(
                        topics.until_terminal(done.ingest_id, timeout_s),
                        wait_projected(stack.config.database_url, done.ingest_id, timeout_s),
                        wait_indexed(http, done.ingest_id, timeout_s)
                        if STATUS_ROUTE not in missing
                        else not_measured(),
                    )
            finally:
                archive.path.unlink(missing_ok=True)
            print(
                f"{name} upload of {archive.size / MB:.0f} MB ({archive.members} slices): "
                f"{done.seconds:.1f} s = {archive.size / MB / done.seconds:.1f} MB/s\n"
                f"  from the upload's answer: {type(seen.terminal).__name__} read on the topic "
                f"{seen.finished_at - done.completed_at:.1f} s; projection row completed "
                f"{_since(projected, done.completed_at)}; GET /ingests/{{id}} completed "
                f"{_since(indexed, done.completed_at)}",
                flush=True,
            )


def _since(at: float | None, start: float) -> str:
    return "not measured" if at is None else f"{at - start:.1f} s"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--slices", type=int, nargs="+", default=[399, 4000])
    parser.add_argument("--compression", choices=sorted(COMPRESSIONS), default="stored")
    parser.add_argument("--uploads", action="store_true", help="also part 2 (the API's uploads)")
    parser.add_argument(
        "--upload-slices", type=int, default=399, help="slices of the study uploaded in part 2"
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per ingest")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, raise_interrupt)  # stop the stack on SIGTERM as on Ctrl-C
    print(f"load average before: {load_average()} ({os.cpu_count()} cores)")
    cache = classpath_cache()
    with tempfile.TemporaryDirectory(prefix="dicompress-bench-zip-") as tmp:
        workdir = Path(tmp)
        began = time.perf_counter()
        with bench_stack(cache) as stack:
            log(f"stack up in {time.perf_counter() - began:.0f} s; ingest pid {stack.ingest_pid}")
            for slices in args.slices:
                archive = make_archive(workdir, slices, args.compression)
                run = ingest_archive(stack, archive, args.timeout)
                print(describe(run), flush=True)
            if args.uploads:
                asyncio.run(
                    uploads_bench(
                        stack, workdir, args.upload_slices, args.compression, args.timeout
                    )
                )
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
