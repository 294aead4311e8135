"""The key image first: a thumbnails request naming its key image gets the KEY images made of
that one object, stored and announced before the rest of the series is read; a slice that is
not axial (or a hint that names nothing) falls back to reading the whole series; either way
the images and events are the same bytes and facts."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import numpy as np
import pytest
from pydicom import dcmread
from renderer_fakes import FakeS3
from renderer_phantom import PhantomSpec, series
from renderer_pixels import phantom_volume

from dicompress_renderer.items import Item, ThumbnailMaker, plan
from dicompress_renderer.key_image import is_axial, key_slice_of_volume
from dicompress_renderer.runner import RenderRunner
from dicompress_renderer.windows import auto_window
from dicompress_schemas import EventBase, ImageRendered, JobCompleted, JobStarted
from dicompress_schemas.geometry import position_along_normal
from dicompress_schemas.products import (
    ImageFormat,
    ThumbnailParams,
    ThumbnailView,
    Window,
    key_instance,
    product_request,
)

TENANT, BUCKET, STUDY, SERIES = "acme", "bucket", "1.2.3", "1.2.3.4"
PREFIX = f"{TENANT}/studies/{STUDY}/{SERIES}/"
IMAGES = f"{TENANT}/products/"  # the images' keys (the run's attempt marker is under jobs/)
SAGITTAL = (0, 1, 0, 0, 0, -1)


def stored(objects: list[bytes]) -> tuple[FakeS3, str]:
    """A phantom's slices stored as the ingest stores a series ({sop}.dcm), and its key
    image's UID by the contract's rule (what the process manager puts in the request)."""
    s3 = FakeS3()
    pairs: list[tuple[str, float | None]] = []
    for data in objects:
        ds = dcmread(io.BytesIO(data), stop_before_pixels=True)
        s3.objects[f"{PREFIX}{ds.SOPInstanceUID}.dcm"] = data
        position = tuple(float(v) for v in ds.ImagePositionPatient)
        orientation = tuple(float(v) for v in ds.ImageOrientationPatient)
        pairs.append((str(ds.SOPInstanceUID), position_along_normal(position, orientation)))
    key = key_instance(pairs)
    assert key is not None
    return s3, key


def run(s3: FakeS3, key_uid: str | None, params: ThumbnailParams | None = None) -> list[Any]:
    request = product_request(
        tenant=TENANT,
        bucket=BUCKET,
        study_uid=STUDY,
        series_uid=SERIES,
        source_version="a" * 64,
        params=params or ThumbnailParams(sizes=(128,)),
        trigger="upload",
        key_instance_uid=key_uid,
    )
    events: list[EventBase] = []

    async def emit(event: EventBase) -> None:
        view = f":{event.view.value}" if isinstance(event, ImageRendered) else ""
        s3.record("emit", f"{event.type}{view}")
        events.append(event)

    asyncio.run(RenderRunner(client=s3, emit=emit, worker="test").run(request))
    return events


def indexes(s3: FakeS3, call: str, where: str = "") -> list[int]:
    return [i for i, (c, what) in enumerate(s3.log) if c == call and where in what]


def test_the_key_images_are_stored_and_announced_before_the_series_is_read() -> None:
    s3, key_uid = stored(series(PhantomSpec()))
    events = run(s3, key_uid)
    assert isinstance(events[0], JobStarted)
    assert isinstance(events[-1], JobCompleted), events[-1]
    key_object = f"{PREFIX}{key_uid}.dcm"
    series_gets = [i for i in indexes(s3, "get") if s3.log[i][1] != key_object]
    key_emits = indexes(s3, "emit", "ImageRendered:key")
    assert len(key_emits) == 4  # default and bone, PNG and WebP, 128 px
    assert indexes(s3, "get")[0] == indexes(s3, "get", key_object)[0]  # the key object first
    assert max(key_emits) < min(series_gets)  # every key image out before the rest is read
    assert indexes(s3, "emit", "JobStarted")[0] < indexes(s3, "put", IMAGES)[0]  # seq 1 first
    assert len(indexes(s3, "get", key_object)) == 1  # read once, kept for the volume
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    images = [e for e in events if isinstance(e, ImageRendered)]
    expected = plan(ThumbnailParams(sizes=(128,)))
    assert [(e.view, e.preset, e.size, e.format) for e in images] == [
        (i.view, i.preset, i.size, i.format) for i in expected
    ]
    assert events[-1].bytes_in == sum(len(v) for k, v in s3.objects.items() if k.endswith(".dcm"))


def test_a_key_slice_that_is_not_axial_falls_back_to_reading_the_whole_series() -> None:
    objects = series(PhantomSpec(orientation=SAGITTAL, slices=40))
    s3, key_uid = stored(objects)
    assert not is_axial(SAGITTAL)
    events = run(s3, key_uid)
    assert isinstance(events[-1], JobCompleted), events[-1]
    # nothing made before the volume
    assert max(indexes(s3, "get")) < min(indexes(s3, "put", IMAGES))
    assert len(indexes(s3, "get", f"{PREFIX}{key_uid}.dcm")) == 1
    # the KEY view is then the axial reformat of the volume, as without a hint
    assert _facts(run(stored(objects)[0], None)) == _facts(events)


@pytest.mark.parametrize(
    "spec",
    [
        PhantomSpec(),
        PhantomSpec(window=None),  # automatic window
        PhantomSpec(rescaled=False, window=None),  # no calibrated HU: presets fall back
        PhantomSpec(monochrome1=True),
    ],
    ids=["own-window", "auto-window", "uncalibrated", "monochrome1"],
)
def test_the_key_images_are_the_same_bytes_whichever_path_made_them(spec: PhantomSpec) -> None:
    params = ThumbnailParams(sizes=(128, 256), windows=(Window.DEFAULT, Window.BONE, Window.LUNG))
    runs = {}
    objects = series(spec)
    for name, hint in (("key first", True), ("no hint", False), ("hint names nothing", None)):
        s3, key_uid = stored(objects)
        uid = key_uid if hint else ("9.9.9" if hint is None else None)
        events = run(s3, uid, params)
        assert isinstance(events[-1], JobCompleted), events[-1]
        images = {k: v for k, v in s3.objects.items() if k.startswith(IMAGES)}
        runs[name] = (_facts(events), images)
    assert runs["key first"] == runs["no hint"] == runs["hint names nothing"]


def test_the_key_slice_is_windowed_by_its_own_histogram_the_reformats_by_the_volumes() -> None:
    volume = phantom_volume(PhantomSpec(window=None))
    key = key_slice_of_volume(volume, None)
    assert key is not None
    maker = ThumbnailMaker.of_volume(volume)
    made_key = maker.make(Item(ThumbnailView.KEY, "default", 128, ImageFormat.PNG))
    made_coronal = maker.make(Item(ThumbnailView.CORONAL, "default", 128, ImageFormat.PNG))
    assert made_key.window is not None
    assert made_coronal.window is not None
    assert (made_key.window.center, made_key.window.width) == auto_window(key.sample)
    assert (made_coronal.window.center, made_coronal.window.width) == auto_window(volume.sample())
    # the key slice is the key_instance() of the volume's slices, its pixels as they are
    uids = [s.sop_uid for s in volume.slices]
    middle = uids.index(str(key_instance(zip(uids, volume.positions, strict=True))))
    assert np.array_equal(key.sample, volume.voxels[middle].ravel())


def _facts(events: list[Any]) -> list[dict[str, Any]]:
    """Events without what is measured (times), which a re-run may not repeat."""
    return [
        e.model_dump(
            exclude={
                "occurred_at",
                "render_ms",
                "download_ms",
                "encode_ms",
                "upload_ms",
                "wall_ms",
                "cpu_s",
                "peak_rss_bytes",
            }
        )
        for e in events
    ]
