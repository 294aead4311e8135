"""The renderer keeps the last series it read whole: the snapshot after the thumbnails bins it in
memory instead of reading the series again, with the very voxels (so the very images) a binned
read gives; another version of the series, or an object replaced since, is read again; the
cache never holds more than its capacity."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace

import numpy as np
import pytest
from pydicom import dcmread
from renderer_fakes import FakeS3
from renderer_phantom import PhantomSpec, series

from dicompress_infra.s3 import S3Uri
from dicompress_renderer.binned import binned_volume
from dicompress_renderer.instances import read_image
from dicompress_renderer.runner import RenderRunner
from dicompress_renderer.source import SourceObject
from dicompress_renderer.volume import Volume, VolumeBuilder, to_modality
from dicompress_renderer.volume_cache import SeriesContent, VolumeCache
from dicompress_schemas import EventBase, JobCompleted
from dicompress_schemas.products import (
    SnapshotParams,
    ThumbnailParams,
    product_request,
)

TENANT, BUCKET, STUDY, SERIES = "acme", "bucket", "1.2.3", "1.2.3.4"
PREFIX = f"{TENANT}/studies/{STUDY}/{SERIES}/"
THUMBNAILS = ThumbnailParams(sizes=(128,))
SNAPSHOT = SnapshotParams(sizes=(128,))


def read_volume(objects: list[bytes], bin_xy: int) -> Volume:
    builder = VolumeBuilder(expected=len(objects))
    for i, data in enumerate(objects):
        image = read_image(data, bin_xy, f"IM{i}")
        assert image is not None
        builder.bytes_in += len(data)
        builder.add(image)
    return builder.build()


def restamped(objects: list[bytes], rough: bool = False, **attributes: str) -> list[bytes]:
    """The slices with other attribute values; `rough`: a fine pattern added to the stored
    values, so that blocks straddle values and their means have fractions to round."""
    out = []
    for data in objects:
        ds = dcmread(io.BytesIO(data))
        for name, value in attributes.items():
            setattr(ds, name, value)
        if rough:
            r, c = np.mgrid[0 : ds.Rows, 0 : ds.Columns]
            ds.PixelData = (ds.pixel_array + (r * 7 + c * 3) % 5).astype(np.uint16).tobytes()
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append(buffer.getvalue())
    return out


def assert_same_volume(got: Volume, expected: Volume) -> None:
    assert got.voxels.dtype == expected.voxels.dtype
    assert np.array_equal(got.voxels, expected.voxels)
    assert got.positions == expected.positions
    assert got.origins == expected.origins
    assert (got.row_spacing, got.column_spacing) == (expected.row_spacing, expected.column_spacing)
    assert (got.orientation, got.window, got.monochrome1) == (
        expected.orientation,
        expected.window,
        expected.monochrome1,
    )
    assert (got.calibrated_hu, got.modality, got.bytes_in) == (
        expected.calibrated_hu,
        expected.modality,
        expected.bytes_in,
    )
    facts = [(s.position, s.pixel_spacing, s.sop_uid) for s in got.slices]
    assert facts == [(s.position, s.pixel_spacing, s.sop_uid) for s in expected.slices]


@pytest.mark.parametrize(
    "spec",
    [
        PhantomSpec(),
        PhantomSpec(size=65, orientation=(0, 1, 0, 0, 0, -1)),  # ragged blocks, sagittal
        PhantomSpec(rescaled=False, window=None),  # no rescale: slope 1, intercept 0
        PhantomSpec(monochrome1=True, orientation=(0.8, 0.6, 0, -0.6, 0.8, 0)),  # oblique
    ],
)
@pytest.mark.parametrize("bin_xy", [2, 4])
def test_a_volume_binned_in_memory_is_the_binned_read_bit_for_bit(
    spec: PhantomSpec, bin_xy: int
) -> None:
    objects = restamped(series(spec), rough=True)
    binned = binned_volume(read_volume(objects, 1), bin_xy)
    assert binned is not None
    assert_same_volume(binned, read_volume(objects, bin_xy))


def test_a_whole_slope_other_than_one_is_undone_exactly() -> None:
    # odd stored values and a slope of 3: the means round in stored units, not in HU
    objects = restamped(
        series(PhantomSpec()), rough=True, RescaleSlope="3", RescaleIntercept="-3071"
    )
    full = read_volume(objects, 1)
    assert full.voxels.dtype == np.int16
    # binning the HU as they are would round differently: the test can tell
    naive = np.stack([to_modality(plane, 1.0, 0.0, 2) for plane in full.voxels])
    assert not np.array_equal(naive, read_volume(objects, 2).voxels)
    binned = binned_volume(full, 2)
    assert binned is not None
    assert_same_volume(binned, read_volume(objects, 2))


def test_a_rescale_in_fractions_is_read_again_not_guessed() -> None:
    objects = restamped(series(PhantomSpec()), RescaleSlope="0.5")
    full = read_volume(objects, 1)
    assert full.voxels.dtype == np.float32
    assert binned_volume(full, 2) is None
    assert binned_volume(full, 1) is full


def content(name: str, version: str = "a" * 64) -> SeriesContent:
    objects = (SourceObject(f"{name}/1.dcm", 10, '"e1"'),)
    return SeriesContent.of(S3Uri(BUCKET, f"{name}/"), version, list(objects))


def test_the_cache_keeps_its_capacity_and_drops_the_least_recently_used() -> None:
    volume = read_volume(series(PhantomSpec(slices=4, size=8)), 1)
    cache = VolumeCache(2)
    assert cache.get(content("a")) is None
    cache.put(content("a"), volume)
    assert cache.get(content("a")) is volume
    assert not volume.voxels.flags.writeable  # a product cannot change the next one's pixels
    cache.put(content("b"), replace(volume))
    cache.get(content("a"))  # a is now the most recently used
    cache.put(content("c"), replace(volume))
    assert len(cache) == 2
    assert cache.get(content("b")) is None
    assert cache.get(content("a")) is volume
    assert cache.get(content("a", version="b" * 64)) is None  # another version of the series
    cache.make_room()  # before a series is read whole: one more must fit
    assert len(cache) == 1
    none = VolumeCache(0)
    none.put(content("a"), volume)
    assert none.get(content("a")) is None


def run(
    runner: RenderRunner, params: ThumbnailParams | SnapshotParams, version: str = "a" * 64
) -> None:
    request = product_request(
        tenant=TENANT,
        bucket=BUCKET,
        study_uid=STUDY,
        series_uid=SERIES,
        source_version=version,
        params=params,
        trigger="upload",
    )
    terminal = asyncio.run(runner.run(request))
    assert isinstance(terminal, JobCompleted), terminal


def series_reads(s3: FakeS3) -> int:
    count = sum(1 for call, key in s3.log if call == "get" and key.startswith(PREFIX))
    s3.log.clear()
    return count


def stored_series(objects: list[bytes]) -> FakeS3:
    s3 = FakeS3()
    for i, data in enumerate(objects):
        s3.objects[f"{PREFIX}{i:04d}.dcm"] = data
    return s3


async def _emit(event: EventBase) -> None:
    return None


def snapshot_images(s3: FakeS3) -> dict[str, bytes]:
    return {k: v for k, v in s3.objects.items() if "/snapshot-" in k and k.endswith(".png")}


def test_the_snapshot_after_the_thumbnails_reads_nothing_and_makes_the_same_images() -> None:
    objects = series(PhantomSpec())
    s3 = stored_series(objects)
    runner = RenderRunner(client=s3, emit=_emit, worker="r-1", volumes=VolumeCache(1))
    run(runner, THUMBNAILS)
    assert series_reads(s3) == len(objects)
    run(runner, SNAPSHOT)
    assert series_reads(s3) == 0
    from_memory = snapshot_images(s3)
    assert from_memory

    cold = stored_series(objects)  # a renderer that never saw the series reads it binned
    run(RenderRunner(client=cold, emit=_emit, worker="r-2"), SNAPSHOT)
    assert series_reads(cold) == len(objects)
    assert snapshot_images(cold) == from_memory


def test_another_version_or_a_replaced_object_is_read_again() -> None:
    objects = series(PhantomSpec())
    s3 = stored_series(objects)
    runner = RenderRunner(client=s3, emit=_emit, worker="r-1", volumes=VolumeCache(1))
    run(runner, THUMBNAILS)
    series_reads(s3)
    run(runner, SNAPSHOT, version="b" * 64)  # the series as another upload made it
    assert series_reads(s3) == len(objects)
    first = f"{PREFIX}0000.dcm"
    s3.objects[first] = restamped([objects[0]], WindowCenter="50")[0]  # same key, new content
    run(runner, SNAPSHOT)
    assert series_reads(s3) == len(objects)
    run(runner, THUMBNAILS)  # read again whole, and kept in place of the old volume
    assert series_reads(s3) == len(objects)
    run(runner, SNAPSHOT)
    assert series_reads(s3) == 0
    assert len(runner.volumes) == 1
