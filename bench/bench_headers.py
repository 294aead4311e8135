"""Header pass benchmark: what ordering slices by geometry adds to a job before its first slice.

Starts the embedded S3 (S3Proxy) alone on a free port, uploads the synthetic CT series (399
slices of 512x512 by default) under UUID names, then times the compressor's own header pass
(`headers.read_headers` through `FastS3ObjectStore`: one 64 KiB ranged GET per slice, 16 at a
time, parsed in threads) and `layout.plan`, against the full GETs every job does anyway. Prints
wall seconds and this process's CPU seconds per step (median of --repeat runs). Figures only.

    .venv/bin/python bench/bench_headers.py [--slices 399] [--repeat 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from dicompress_compressor.headers import read_headers
from dicompress_compressor.layout import plan
from dicompress_compressor.storage import FastS3ObjectStore, SourceObject
from dicompress_infra.s3 import S3Uri, make_s3_client
from dicompress_stack import s3
from dicompress_stack.config import S3_ACCESS_KEY, S3_SECRET_KEY
from dicompress_stack.net import free_port
from dicompress_stack.synthetic_ct import generate_series

BUCKET = "bench-headers"


async def _timed(step: object) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = await step  # type: ignore[misc]
    return time.perf_counter() - wall, time.process_time() - cpu, result


async def measure(
    store: FastS3ObjectStore, sources: list[SourceObject], concurrency: int
) -> dict[str, tuple[float, float]]:
    """(wall s, CPU s) of the header pass, the plan, and the full GETs of every slice."""
    header_wall, header_cpu, headers = await _timed(read_headers(store, sources, concurrency))
    started, cpu = time.perf_counter(), time.process_time()
    layout = plan(headers, "series/")  # type: ignore[arg-type]
    plan_wall, plan_cpu = time.perf_counter() - started, time.process_time() - cpu
    assert len(layout.slices) == len(sources)
    limit = asyncio.Semaphore(concurrency)

    async def get(source: SourceObject) -> int:
        async with limit:
            return len(await store.get_bytes(source))

    async def get_all() -> list[int]:
        return list(await asyncio.gather(*(get(s) for s in sources)))

    full_wall, full_cpu, _ = await _timed(get_all())
    return {
        "header pass (ranged GETs + parse)": (header_wall, header_cpu),
        "plan (order, folders)": (plan_wall, plan_cpu),
        "full GETs of every slice (for scale)": (full_wall, full_cpu),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slices", type=int, default=399)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="bench-headers-"))
    port = free_port()
    server = s3.start_s3(
        data_dir / "s3", s3.resolve_classpath(data_dir / "cp"), port, S3_ACCESS_KEY, S3_SECRET_KEY
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        s3.create_bucket(endpoint, S3_ACCESS_KEY, S3_SECRET_KEY, BUCKET)
        settings = s3.s3_settings(endpoint, S3_ACCESS_KEY, S3_SECRET_KEY)
        client = make_s3_client(settings)
        for _, body in generate_series(n_slices=args.slices):
            key = f"series/{uuid.uuid4()}.dcm"
            client.put_object(Bucket=BUCKET, Key=key, Body=body)
        store = FastS3ObjectStore(client, settings)
        sources = asyncio.run(store.list_objects(S3Uri(BUCKET, "series/")))
        runs = [asyncio.run(measure(store, sources, args.concurrency)) for _ in range(args.repeat)]
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)

    megabytes = sum(s.size for s in sources) / 1e6
    print(f"{len(sources)} slices, {megabytes:.0f} MB, embedded S3 (S3Proxy), ")
    print(f"{args.concurrency} requests at once, median of {args.repeat} runs")
    print(f"{'step':40} {'wall s':>8} {'CPU s':>8}")
    for step in runs[0]:
        wall = statistics.median(r[step][0] for r in runs)
        cpu = statistics.median(r[step][1] for r in runs)
        print(f"{step:40} {wall:8.3f} {cpu:8.3f}")


if __name__ == "__main__":
    main()
