"""Encoding benchmark: the synthetic CT series through the compressor's own encode path.

Feeds every slice from memory to the real `EncoderPool` (`encoder.encode_slice` in worker
processes, at most two slices per process in flight, as a job does; no S3, no Kafka) at rate 100
with 1 and 2 processes, and prints slices/s, total seconds, the encoder path's CPU per slice,
the CPU of decoding one output slice again (what the quality check adds to that path, which
decodes each lossy slice to measure it), the mean measured ratio and the mean PSNR (12-bit
peak) of the decoded output against the original. Figures only, no asserts.
bench_compare.py reuses `encode_series` for its "encode path" rows.

    .venv/bin/python bench/bench_encode.py [--slices N] [--rate R] [--processes 1 2]
        [--codec j2k-lossy|j2k-lossless|htj2k-lossy|htj2k-lossless]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import math
import time

import numpy as np
from pydicom import dcmread

from dicompress_compressor.encoder import EncodedSlice, EncodeOptions
from dicompress_compressor.pool import EncoderPool
from dicompress_schemas import Codec
from dicompress_stack.synthetic_ct import generate_series


async def encode_series(
    series: dict[str, bytes],
    processes: int,
    rate: float,
    codec: Codec = Codec.J2K_LOSSY,
) -> tuple[float, list[EncodedSlice]]:
    """Seconds to encode the whole series with `processes` workers (pool already warm), and
    the encoded slices in series order; raises on the first slice the encoder refuses."""
    pool = EncoderPool(processes)
    try:
        await pool.warm_up()
        options = EncodeOptions(codec=codec, rate=rate)
        in_flight = asyncio.Semaphore(2 * processes)  # one encoding, one waiting, per process

        async def encode(data: bytes) -> EncodedSlice:
            async with in_flight:
                return await pool.encode(data, options)

        started = time.perf_counter()
        encoded = await asyncio.gather(*(encode(data) for data in series.values()))
        return time.perf_counter() - started, list(encoded)
    finally:
        pool.shutdown()


def mean_psnr(series: dict[str, bytes], encoded: list[EncodedSlice]) -> tuple[float, float]:
    """The mean PSNR, and the mean CPU ms of decoding an output slice (read and pixels)."""
    values, decode_s = [], 0.0
    for original, result in zip(series.values(), encoded, strict=True):
        reference = dcmread(io.BytesIO(original)).pixel_array.astype(np.float64)
        started = time.process_time()
        decoded = dcmread(io.BytesIO(result.data)).pixel_array.astype(np.float64)
        decode_s += time.process_time() - started
        mse = float(np.mean((reference - decoded) ** 2))
        values.append(math.inf if mse == 0 else 10 * math.log10(4095.0**2 / mse))
    return float(np.mean(values)), decode_s / len(encoded) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=399, help="slices in the series (399)")
    parser.add_argument("--rate", type=float, default=100.0, help="gdcmconv-style rate (100)")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--codec", type=Codec, choices=list(Codec), default=Codec.J2K_LOSSY, help="(j2k-lossy)"
    )
    args = parser.parse_args()

    started = time.perf_counter()
    series = dict(generate_series(n_slices=args.slices))
    generated = time.perf_counter() - started
    print(
        f"series: {args.slices} slices of 512x512, 12 bits stored, "
        f"{sum(map(len, series.values())) / 1e6:.1f} MB, generated in {generated:.2f} s "
        f"({generated / args.slices * 1000:.1f} ms/slice); {args.codec.value}, rate {args.rate:g}"
    )
    columns = [("processes", 9), ("seconds", 8), ("slices/s", 9), ("ms/slice", 9)]
    # CPU ms: encode_slice per slice; decode ms: one output slice decoded again
    more = [("CPU ms", 7), ("decode ms", 9), ("ratio", 7), ("PSNR dB", 8)]
    print(" ".join(f"{name:>{width}}" for name, width in [*columns, *more]))
    for processes in args.processes:
        seconds, encoded = asyncio.run(encode_series(series, processes, args.rate, args.codec))
        cpu_ms = float(np.mean([e.encode_ms for e in encoded]))
        ratio = float(np.mean([e.ratio for e in encoded]))
        psnr, decode_ms = mean_psnr(series, encoded)
        print(
            f"{processes:>9} {seconds:>8.2f} {args.slices / seconds:>9.1f} "
            f"{seconds / args.slices * 1000:>9.1f} {cpu_ms:>7.1f} {decode_ms:>9.1f} "
            f"{ratio:>7.2f} {psnr:>8.2f}"
        )


if __name__ == "__main__":
    main()
