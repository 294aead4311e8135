"""Renderer benchmark (issue 13): thumbnails and 3D snapshots of a 399-slice 512x512 CT series.

The synthetic series (`dicompress_stack.synthetic_ct`) is written once to a temp dir; each phase
then runs in a fresh process (spawn), so its peak RSS is its own, and reads the files through
the renderer's own loader (`source.load_volume`, with a client that reads files instead of S3:
no network in the figures):

- key image first: the middle slice read alone and the first thumbnail made of it (what a
  request naming its key image gets before the rest of the series is read);
- thumbnails: load at full resolution, then the default product (key, coronal, sagittal x
  default and bone windows x 256 and 512 px x PNG and WebP): ms to the first image, to all;
- snapshot: load binned `--bin` (default 2), the input vtk gets (crop, Z-binning), then vtk's
  frontal rendering with CT-Bone and CT-Soft-Tissue at 256 and 512 px: ms per image (each
  preset is ray cast once at 512 px, its first image includes the gradients; 256 px is that
  image scaled down), and the numpy maximum-intensity projection that stands in without vtk.

The load average is printed before and after: the machine is shared, compare runs only with
theirs.

    .venv/bin/python -m bench.bench_render [--slices 399] [--size 512] [--bin 2]

Figures only, no asserts. Needs only the project's venv (and EGL for vtk: make system-tools).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from dicompress_renderer.items import ThumbnailMaker, plan
from dicompress_renderer.key_image import key_slice
from dicompress_renderer.snapshot import (
    mip_fallback,
    render_volume,
    snapshot_input,
    vtk_version,
    warm_up,
)
from dicompress_renderer.source import SourceObject, load_volume, read_one
from dicompress_renderer.volume import Volume
from dicompress_schemas.products import SnapshotParams, ThumbnailParams
from dicompress_stack.synthetic_ct import write_series


class _Files:
    """The two calls `load_volume` makes of an S3 client, on local files."""

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # boto3's names
        return {"Body": Path(Bucket, Key).open("rb")}


def _load(directory: str, bin_xy: int) -> tuple[Volume, float]:
    objects = [SourceObject(p.name, p.stat().st_size) for p in sorted(Path(directory).iterdir())]
    started = time.perf_counter()
    volume = load_volume(_Files(), directory, objects, bin_xy, 8)  # type: ignore[arg-type]
    return volume, (time.perf_counter() - started) * 1000


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def key_first(directory: str) -> list[str]:
    """The request's key image read alone and its first image (key, default, 256 px PNG)
    made of it, as the runner does before reading the rest of the series."""
    names = sorted(Path(directory).iterdir(), key=lambda p: int(p.stem.removeprefix("IM")))
    middle = names[len(names) // 2].name  # the phantom's key image: its middle by position
    started = time.perf_counter()
    first = read_one(_Files(), directory, middle, 1)  # type: ignore[arg-type]
    read_ms = (time.perf_counter() - started) * 1000
    assert first is not None
    key = key_slice(first.image)
    assert key is not None
    made = ThumbnailMaker(None, key).make(plan(ThumbnailParams())[0])
    total_ms = (time.perf_counter() - started) * 1000
    return [
        f"key image first: read and decode {read_ms:.0f} ms, first image "
        f"{total_ms - read_ms:.0f} ms ({made.image.width}x{made.image.height}), "
        f"read to first image {total_ms:.0f} ms"
    ]


def thumbnails(directory: str) -> list[str]:
    volume, load_ms = _load(directory, 1)
    lines = [
        f"load 1x1: {load_ms:.0f} ms, voxels {volume.voxels.dtype} {volume.voxels.shape}, "
        f"{volume.voxels.nbytes / 2**20:.0f} MiB"
    ]
    maker = ThumbnailMaker.of_volume(volume)
    started = time.perf_counter()
    first_ms = 0.0
    items = plan(ThumbnailParams())
    for index, item in enumerate(items):
        maker.make(item)
        if index == 0:
            first_ms = (time.perf_counter() - started) * 1000
    total_ms = (time.perf_counter() - started) * 1000
    lines.append(
        f"thumbnails: first image {first_ms:.0f} ms, all {len(items)} in {total_ms:.0f} ms"
    )
    lines.append(f"thumbnails: load to first image {load_ms + first_ms:.0f} ms")
    lines.append(f"thumbnails process peak RSS: {_peak_mb():.0f} MiB")
    return lines


def snapshot(directory: str, bin_xy: int) -> list[str]:
    volume, load_ms = _load(directory, bin_xy)
    lines = [
        f"load {bin_xy}x{bin_xy}: {load_ms:.0f} ms, voxels {volume.voxels.shape}, "
        f"{volume.voxels.nbytes / 2**20:.0f} MiB"
    ]
    params = SnapshotParams(bin_xy=2 if bin_xy == 2 else 4)
    started = time.perf_counter()
    warm_up()  # what the service does when it starts: not part of a snapshot's time
    lines.append(f"vtk warm-up (import, context): {(time.perf_counter() - started) * 1000:.0f} ms")
    started = time.perf_counter()
    data = snapshot_input(volume, params.presets)
    input_ms = (time.perf_counter() - started) * 1000
    lines.append(
        f"vtk input: {input_ms:.0f} ms, voxels {data.voxels.shape} (cropped, Z-binned), "
        f"spacing {tuple(round(v, 3) for v in data.spacing)}"
    )
    started = time.perf_counter()
    rendered = render_volume(data, params.presets, params.sizes)
    total_ms = (time.perf_counter() - started) * 1000
    lines.append(f"vtk {vtk_version()}: all {len(rendered)} snapshots in {total_ms:.0f} ms")
    lines.append(f"snapshots: load to all {load_ms + input_ms + total_ms:.0f} ms")
    lines.extend(
        f"  {r.preset.value} {r.size} px: {r.render_ms:.0f} ms ({r.image.width}x{r.image.height}, "
        f"{len(r.image.data)} bytes)"
        for r in rendered
    )
    started = time.perf_counter()
    mip_fallback(volume, 512)
    lines.append(f"MIP fallback 512 px: {(time.perf_counter() - started) * 1000:.0f} ms")
    lines.append(f"snapshot process peak RSS: {_peak_mb():.0f} MiB")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slices", type=int, default=399)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--bin", type=int, default=2, choices=(2, 4))
    args = parser.parse_args()
    print(f"load average at start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as directory:
        write_series(directory, args.slices, args.size)
        print(f"series: {args.slices} slices of {args.size}x{args.size}")
        with context.Pool(1) as pool:
            for line in pool.apply(key_first, (directory,)):
                print(line)
        with context.Pool(1) as pool:
            for line in pool.apply(thumbnails, (directory,)):
                print(line)
        with context.Pool(1) as pool:
            for line in pool.apply(snapshot, (directory, args.bin)):
                print(line)
    print(f"load average at end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
