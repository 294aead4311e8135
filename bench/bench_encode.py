"""Encoding benchmark: the synthetic CT series through the compressor's own pipeline.

Runs `pipeline.in_index_order` with the real `EncoderPool` (the same code path as a job, minus
S3 and Kafka: the slices come from memory) at rate 100 with 1 and 2 processes, and prints
slices/s, total seconds, the mean measured ratio and the mean PSNR (12-bit peak) of the
decoded output against the original. Figures only, no asserts.

    .venv/bin/python bench/bench_encode.py [--slices N] [--rate R] [--processes 1 2]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import math
import time
from contextlib import aclosing

import numpy as np
from pydicom import dcmread

from dicompress_compressor.encoder import EncodedSlice, EncodeOptions
from dicompress_compressor.pipeline import in_index_order
from dicompress_compressor.pool import EncoderPool
from dicompress_compressor.storage import SourceObject
from dicompress_infra.s3 import S3Uri
from dicompress_stack.synthetic_ct import generate_series


class MemoryStore:
    """Slices already in memory: the benchmark times encoding, not S3."""

    def __init__(self, series: dict[str, bytes]) -> None:
        self.series = series

    async def list_objects(self, prefix: S3Uri) -> list[SourceObject]:
        return [SourceObject(prefix.bucket, key, len(data)) for key, data in self.series.items()]

    async def get_bytes(self, obj: SourceObject) -> bytes:
        return self.series[obj.key]

    async def head_metadata(self, uri: S3Uri) -> dict[str, str] | None:
        return None

    async def upload(self, uri: S3Uri, body: object, metadata: dict[str, str]) -> None:
        raise NotImplementedError


async def encode_series(
    series: dict[str, bytes], processes: int, rate: float
) -> tuple[float, list[EncodedSlice]]:
    """Seconds to encode the whole series with `processes` workers (pool already warm)."""
    pool = EncoderPool(processes)
    try:
        await pool.warm_up()
        store = MemoryStore(series)
        sources = await store.list_objects(S3Uri("bench", ""))
        started = time.perf_counter()
        encoded = []
        options = EncodeOptions(rate=rate)
        outcomes = in_index_order(sources, store, pool, options, max_in_flight=2 * processes)
        async with aclosing(outcomes):
            async for outcome in outcomes:
                if outcome.encoded is None:
                    raise RuntimeError(f"{outcome.source.key}: {outcome.reason}")
                encoded.append(outcome.encoded)
        return time.perf_counter() - started, encoded
    finally:
        pool.shutdown()


def mean_psnr(series: dict[str, bytes], encoded: list[EncodedSlice]) -> float:
    values = []
    for original, result in zip(series.values(), encoded, strict=True):
        reference = dcmread(io.BytesIO(original)).pixel_array.astype(np.float64)
        decoded = dcmread(io.BytesIO(result.data)).pixel_array.astype(np.float64)
        mse = float(np.mean((reference - decoded) ** 2))
        values.append(math.inf if mse == 0 else 10 * math.log10(4095.0**2 / mse))
    return float(np.mean(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=399, help="slices in the series (399)")
    parser.add_argument("--rate", type=float, default=100.0, help="gdcmconv-style rate (100)")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    started = time.perf_counter()
    series = dict(generate_series(n_slices=args.slices))
    generated = time.perf_counter() - started
    print(
        f"series: {args.slices} slices of 512x512, 12 bits stored, "
        f"{sum(map(len, series.values())) / 1e6:.1f} MB, generated in {generated:.2f} s "
        f"({generated / args.slices * 1000:.1f} ms/slice); rate {args.rate:g}"
    )
    columns = [("processes", 9), ("seconds", 8), ("slices/s", 9), ("ms/slice", 9)]
    print(" ".join(f"{name:>{width}}" for name, width in [*columns, ("ratio", 7), ("PSNR dB", 8)]))
    for processes in args.processes:
        seconds, encoded = asyncio.run(encode_series(series, processes, args.rate))
        ratio = float(np.mean([e.ratio for e in encoded]))
        psnr = mean_psnr(series, encoded)
        print(
            f"{processes:>9} {seconds:>8.2f} {args.slices / seconds:>9.1f} "
            f"{seconds / args.slices * 1000:>9.1f} {ratio:>7.2f} {psnr:>8.2f}"
        )


if __name__ == "__main__":
    main()
