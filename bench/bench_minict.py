"""Mini CT and range download benchmark (issue 14, "Done when", benchmarks).

On the whole embedded stack (`bench_stack`: Kafka, Postgres, S3Proxy and every service, on free
ports in a temp dir), for each of `--repeat` runs: ONE CT series of `--slices` 512x512 slices
(the `synthetic_ct` phantom, fresh UIDs each run, so every Mini CT is cold again) is uploaded by
presigned multipart through the API and waited for until indexed and until the products made on
upload (preview, thumbnails, snapshot) have ended, so the compressor is idle. Then:

(a) a Mini CT of `--z-slices` slices (the middle of the series) with a `--roi` x `--roi` pixel
    box (the middle of the slice), lossless, `format: series`: cold, seconds from
    `POST /studies/{id}/series/{uid}/mini-ct` (202) to `GET /jobs/{id}` completed, to the POST
    answering 200 with `downloadUrl`, and to the artifact downloaded through it; then the same
    request again (cached: 200 with `downloadUrl`): seconds to the answer and to the download;
(b) the same region at Rate10 (`"preset": "rate10"`), cold and cached; and lossless as one
    multi-frame object (`format: multiframe`), cold and cached;
(c) a range download `GET /studies/{id}/download?series=&zStart=&zEnd=` of `--range-slices`
    slices (~200 MB at 380 of 512x512), streamed and counted: MB/s, Content-Length against the
    bytes received, and the API process's peak RSS (with any children) sampled every 0.1 s.

    .venv/bin/python -m bench.bench_minict [--repeat 1] [--note "what else ran"]

Prints the tables and writes them, with the machine and its load average, to
bench/results/minict-<UTC date-time>.md. Figures only, no asserts. The API's per-tenant rate
limit is raised for its stack (the job polling is 10 requests/s).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from bench.bench_products import (
    drive_uploads,
    load_average,
    others_seen,
    shown_command,
)
from bench.ingest.stack import BenchStack
from bench.ingest.uploads import presigned_upload, wait_indexed
from bench.minict.ranged import Ranged, range_download
from bench.minict.requests import Asked, ask
from bench.paths import RESULTS
from bench.products.cpu import service_pids
from bench.products.follow import follow_products
from bench.products.series import SeriesTemplate

from dicompress_schemas import study_id

TENANT = "bench-minict"
MB = 1e6
# (label, extra body): each a product of its own, so each is cold on its first request
CASES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("lossless, series", {"preset": "lossless", "format": "series"}),
    ("Rate10, series", {"preset": "rate10", "format": "series"}),
    ("lossless, multiframe", {"preset": "lossless", "format": "multiframe"}),
)


@dataclass(frozen=True)
class Run:
    number: int
    upload_mb: float
    upload_s: float
    indexed_s: float  # upload complete -> GET /ingests/{id} completed
    products_s: float  # upload complete -> the upload's own products all ended
    region: str
    asked: list[Asked]
    ranged: Ranged
    load_before: str
    load_after: str


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _middle(count: int, size: int) -> int:
    return max(0, (count - size) // 2)


async def one_run(
    stack: BenchStack,
    template: SeriesTemplate,
    workdir: Path,
    number: int,
    args: argparse.Namespace,
) -> Run:
    archive = await asyncio.to_thread(template.build_zip, workdir / f"series-{number}.zip")
    study = str(study_id(TENANT, archive.study_instance_uid))
    series = archive.series_instance_uid
    api_pid = service_pids(stack.config)["api"]
    headers = {"Authorization": f"Bearer {stack.handle.token(TENANT)}"}
    z0 = _middle(template.slices, args.z_slices)
    corner = _middle(template.size, args.roi)
    body: dict[str, Any] = {
        "zStart": z0,
        "zEnd": z0 + args.z_slices - 1,
        "roi": {"row": corner, "column": corner, "rows": args.roi, "columns": args.roi},
    }
    region = (
        f"slices {body['zStart']}..{body['zEnd']} of {template.slices}, ROI {args.roi}x{args.roi} "
        f"at row {corner}, column {corner}, downsample 1"
    )
    async with (
        httpx.AsyncClient(
            base_url=stack.config.api_url, headers=headers, timeout=httpx.Timeout(600.0)
        ) as http,
        httpx.AsyncClient(timeout=httpx.Timeout(600.0)) as s3,
    ):
        load_before = load_average()
        log(f"run {number}: uploading {archive.size / MB:.0f} MB ({archive.members} slices)")
        try:
            upload = await presigned_upload(http, archive.path, archive.size)
        finally:
            archive.path.unlink(missing_ok=True)
        indexed_at = await wait_indexed(http, upload.ingest_id, args.timeout)
        followed = await follow_products(http, study, args.timeout, poll_s=0.5)
        products_s = time.perf_counter() - upload.completed_at
        log(f"run {number}: indexed, upload's products ended after {products_s:.1f} s")
        path = f"/studies/{study}/series/{series}/mini-ct"
        asked: list[Asked] = []
        for label, extra in CASES:
            for temperature in ("cold", "cached"):
                one = await ask(http, s3, path, {**body, **extra}, f"{label}, {temperature}",
                                args.timeout)  # fmt: skip
                log(f"run {number}: {one.label}: {_brief(one)}")
                asked.append(one)
        z_end = min(template.slices, args.range_slices) - 1
        ranged = await range_download(http, study, series, 0, z_end, api_pid)
        log(
            f"run {number}: range 0..{z_end}: {ranged.received / MB:.0f} MB in "
            f"{ranged.seconds:.1f} s, API RSS peak {ranged.rss_peak / MB:.0f} MB"
        )
    if followed.timed_out:
        log(f"run {number}: the upload's products had not all ended after {args.timeout:.0f} s")
    return Run(
        number,
        archive.size / MB,
        upload.seconds,
        indexed_at - upload.completed_at,
        products_s,
        region,
        asked,
        ranged,
        load_before,
        load_average(),
    )


def _s(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _brief(one: Asked) -> str:
    if one.error:
        return f"{one.first_status}, {one.error}"
    return (
        f"{one.first_status} in {one.answered_s:.2f} s, job ended {_s(one.job_ended_s)} s, URL "
        f"{_s(one.url_s)} s, downloaded {_s(one.downloaded_s)} s ({one.artifact_bytes / MB:.1f} MB)"
    )


def _wall(job: dict[str, Any]) -> str:
    timings: dict[str, Any] = job.get("timings") or {}
    wall = timings.get("wallMs")
    if wall is None:
        return "-"
    phases = " / ".join(_s(timings.get(f"{p}Ms"), 0) for p in ("download", "encode", "upload"))
    return f"{wall:.0f} ({phases})"


ASK_HEADER = (
    "| Mini CT | first answer (HTTP) | s to answer | s to job completed | s to downloadUrl "
    "| s to downloaded | artifact MB | job wallMs (download / encode / upload) | note |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---|"
)
RANGE_HEADER = (
    "| range download | files | MB received | Content-Length = received | s to first byte | s "
    "| MB/s | API RSS idle | API RSS peak | API RSS after | RSS samples |\n"
    "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"
)


def ask_row(one: Asked) -> str:
    note = one.error or (
        f"{one.url_posts} POST(s) after the job for the URL" if one.job_ended_s is not None else ""
    )
    return (
        f"| {one.label} | {one.first_status} | {_s(one.answered_s)} | {_s(one.job_ended_s)} | "
        f"{_s(one.url_s)} | {_s(one.downloaded_s)} | {one.artifact_bytes / MB:.2f} | "
        f"{_wall(one.job)} | {note} |"
    )


def range_row(r: Ranged) -> str:
    return (
        f"| slices {r.z_start}..{r.z_end} (HTTP {r.status}) | {r.files} | {r.received / MB:.1f} | "
        f"{'yes' if r.length_matches else f'NO: {r.content_length}'} ({r.content_length}) | "
        f"{r.first_byte_s:.2f} | {r.seconds:.2f} | {r.mb_per_s:.1f} | {r.rss_idle / MB:.0f} MB | "
        f"{r.rss_peak / MB:.0f} MB | {r.rss_after / MB:.0f} MB | {r.samples} |"
    )


def describe_run(run: Run) -> str:
    return "\n".join(
        [
            f"### Run {run.number}",
            "",
            f"Upload {run.upload_mb:.0f} MB by presigned multipart in {run.upload_s:.1f} s; "
            f"indexed {run.indexed_s:.1f} s after; the upload's own products (preview, "
            f"thumbnails, snapshot) ended {run.products_s:.1f} s after, before any Mini CT was "
            f"asked. Load average {run.load_before} before the upload, {run.load_after} after "
            f"the range download. Region: {run.region}.",
            "",
            ASK_HEADER,
            *(ask_row(one) for one in run.asked),
            "",
            RANGE_HEADER,
            range_row(run.ranged),
        ]
    )


def medians(runs: list[Run]) -> str:
    lines = [
        "| Mini CT | median s to job completed | median s to downloaded | min / max downloaded |",
        "|---|---:|---:|---|",
    ]
    for at, first in enumerate(runs[0].asked):
        done = [r.asked[at] for r in runs if not r.asked[at].error]
        jobs = [a.job_ended_s for a in done if a.job_ended_s is not None]
        downs = [a.downloaded_s for a in done if a.downloaded_s is not None]
        lines.append(
            f"| {first.label} ({len(done)} of {len(runs)} runs) | "
            f"{_s(statistics.median(jobs) if jobs else None)} | "
            f"{_s(statistics.median(downs) if downs else None)} | "
            f"{_s(min(downs) if downs else None)} / {_s(max(downs) if downs else None)} |"
        )
    rates = [r.ranged.mb_per_s for r in runs]
    peaks = [r.ranged.rss_peak / MB for r in runs]
    lines += [
        "",
        f"Range download: median {statistics.median(rates):.1f} MB/s "
        f"({min(rates):.1f}-{max(rates):.1f}); API RSS peak median "
        f"{statistics.median(peaks):.0f} MB ({min(peaks):.0f}-{max(peaks):.0f}).",
    ]
    return "\n".join(lines)


def report(
    args: argparse.Namespace, runs: list[Run], began: datetime, machine: str, others: list[str]
) -> str:
    command = shown_command("bench.bench_minict")
    lines = [
        f"# Mini CT and range download benchmark, {began:%Y-%m-%d %H:%M} UTC",
        "",
        f"One CT series of {args.slices} slices 512x512 (synthetic_ct phantom, fresh UIDs per "
        f"run) uploaded by presigned multipart through the API of the embedded stack (S3Proxy "
        f"as the S3); then Mini CTs of one region and a range download of the originals. "
        f"Command: `{command}`.",
        "",
        machine,
        "",
        others_seen(others) + ".",
        "",
        *([args.note, ""] if args.note else []),
        "Mini CT times are seconds from the start of the first `POST /studies/{id}/series/{uid}/"
        "mini-ct`. Cold (202): `GET /jobs/{id}` polled every 0.1 s until completed, then the "
        "POST again until it answers 200 with `downloadUrl`, then the artifact downloaded "
        "through that presigned URL (S3Proxy), streamed. Cached: the same body posted again "
        '(200 with `downloadUrl` at once), then downloaded. "job wallMs": the compressor\'s own '
        "wall time of the Mini CT (JobCompleted.wall_ms) with its phases, from GET /jobs/{id}. "
        "Range download: `GET /studies/{id}/download?series=&zStart=&zEnd=` streamed through "
        "the API (seconds from the request to the last byte); the API process's RSS (with any "
        "children) sampled every 0.1 s with psutil, idle = before the request.",
        "",
        "## Runs",
        "",
    ]
    lines += [describe_run(run) + "\n" for run in runs]
    if len(runs) > 1:
        lines += ["## Over the runs", "", medians(runs), ""]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--slices", type=int, default=399, help="slices of the CT series")
    parser.add_argument("--z-slices", type=int, default=100, help="slices of the Mini CT")
    parser.add_argument("--roi", type=int, default=256, help="side of the Mini CT's pixel box")
    parser.add_argument(
        "--range-slices", type=int, default=380, help="slices of the range download (from 0)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="uploads, one after the other")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per wait")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the .md goes")
    parser.add_argument("--note", default="", help="a sentence for the results file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run = functools.partial(one_run, args=args)
    return drive_uploads(args, "minict", run, describe_run, report)


if __name__ == "__main__":
    raise SystemExit(main())
