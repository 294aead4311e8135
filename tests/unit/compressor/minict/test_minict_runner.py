"""The Mini CT job on in-memory adapters: its events, the ZIP or the multi-frame object it
stores, its refusals in words at seq 1, a failed slice failing the job, re-runs; and the
compressor's request decoder taking Mini CT requests."""

from __future__ import annotations

import asyncio
import io
import zipfile
from typing import Any

import orjson
import pytest
from pydicom import dcmread
from tests.unit.compressor.compressor_fakes import MemoryStore
from tests.unit.compressor.preview.preview_series import SeriesSpec, dataset, part10, series_files

from dicompress_compressor.minict.multiframe import (
    MultiframeObject,
    MultiframeSpec,
    build_multiframe,
)
from dicompress_compressor.minict.output import mini_ct_key
from dicompress_compressor.minict.runner import MiniCtRunner
from dicompress_compressor.minict.specs import mini_ct_object_uid, mini_ct_series_uid
from dicompress_compressor.preview.dataset import PreviewSliceSpec
from dicompress_compressor.preview.encode import PreviewSlice, make_preview_slice
from dicompress_compressor.worker import decode_request
from dicompress_schemas import (
    EventBase,
    JobCompleted,
    JobFailed,
    JobStarted,
    ProductRequested,
    SliceEncoded,
    SliceFailed,
    encode_event,
    new_event_id,
)
from dicompress_schemas.products import MiniCtFormat, MiniCtParams, RoiBox, product_request

TENANT, BUCKET = "acme", "bucket"
BOX = RoiBox(row=8, column=4, rows=40, columns=48)


class InlineMaker:
    async def make(self, sources: list[bytes], spec: PreviewSliceSpec) -> PreviewSlice:
        await asyncio.sleep(0)
        return make_preview_slice(sources, spec)

    async def join(self, frames: list[bytes], spec: MultiframeSpec) -> MultiframeObject:
        return build_multiframe(frames, spec)


def _request(files: list[tuple[str, bytes]], **params: Any) -> ProductRequested:
    first = dcmread(io.BytesIO(files[0][1]))
    return product_request(
        tenant=TENANT,
        bucket=BUCKET,
        study_uid=first.StudyInstanceUID,
        series_uid=first.SeriesInstanceUID,
        source_version="0" * 64,
        params=MiniCtParams(**({"z_start": 1, "z_end": 4, "roi": BOX} | params)),
        trigger="request",
    )


def _store(request: ProductRequested, files: list[tuple[str, bytes]]) -> MemoryStore:
    prefix = request.source_uri.removeprefix(f"s3://{BUCKET}/")
    return MemoryStore({prefix + name: data for name, data in files}, bucket=BUCKET)


async def _run(request: ProductRequested, store: MemoryStore) -> tuple[list[EventBase], EventBase]:
    sink: list[EventBase] = []

    async def emit(event: EventBase) -> None:
        sink.append(event)

    runner = MiniCtRunner(
        store=store, maker=InlineMaker(), emit=emit, worker="w-1", max_in_flight=3, part_size=4096
    )
    terminal = await runner.run(request)
    return sink, terminal


def _prefix(request: ProductRequested) -> str:
    return request.target_uri.removeprefix(f"s3://{BUCKET}/")


async def test_a_series_mini_ct_is_a_zip_of_its_slices_and_a_manifest() -> None:
    files = series_files(SeriesSpec(n=6, size=64))
    request = _request(files)
    store = _store(request, files)
    sink, terminal = await _run(request, store)

    assert [e.seq for e in sink] == list(range(1, 7))
    assert [e.type for e in sink] == ["JobStarted"] + ["SliceEncoded"] * 4 + ["JobCompleted"]
    assert all(e.event_id == new_event_id(request.job_id, e.seq) for e in sink)
    assert isinstance(sink[0], JobStarted)
    assert sink[0].total_slices == 4
    key = mini_ct_key(_prefix(request), MiniCtFormat.SERIES)
    assert key == f"{_prefix(request)}mini-ct.zip"
    assert isinstance(terminal, JobCompleted)
    assert terminal.artifact_uri == f"s3://{BUCKET}/{key}"
    data, metadata = store.objects[key]
    assert terminal.artifact_bytes == len(data)
    assert metadata["job-id"] == str(request.job_id)
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = [f"{i:05d}.dcm" for i in range(4)]
    assert archive.namelist() == [*names, "manifest.json"]
    manifest = orjson.loads(archive.read("manifest.json"))
    assert manifest["params"]["roi"] == BOX.model_dump()
    series_uid = mini_ct_series_uid(str(request.job_id), request.series_instance_uid)
    slices = [e for e in sink if isinstance(e, SliceEncoded)]
    for i, (event, name) in enumerate(zip(slices, names, strict=True)):
        ds = dcmread(io.BytesIO(archive.read(name)))
        assert (event.slice_index, event.entry_name, event.slice_key) == (i, name, None)
        assert event.psnr_db is None
        assert (event.max_abs_error, event.max_error_hu) == (0, 0.0)  # lossless
        assert (
            ds.SOPInstanceUID == event.sop_instance_uid == manifest["slices"][i]["sop_instance_uid"]
        )
        assert ds.SeriesInstanceUID == series_uid
        assert (ds.Rows, ds.Columns) == (BOX.rows, BOX.columns)
        assert "LossyImageCompression" not in ds
        assert list(ds.ImageType[:2]) == ["DERIVED", "SECONDARY"]
        assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == event.source_sop_instance_uid
    assert [e.position_along_normal for e in slices] == pytest.approx(
        [20.0 + 1.25 * i for i in range(1, 5)]
    )  # slices 1 to 4 in anatomical order
    assert store.uploads == {}


async def test_a_multiframe_mini_ct_is_one_object_announced_frame_by_frame() -> None:
    files = series_files(SeriesSpec(n=6, size=64))
    request = _request(files, format=MiniCtFormat.MULTIFRAME)
    store = _store(request, files)
    sink, terminal = await _run(request, store)

    assert [e.type for e in sink] == ["JobStarted"] + ["SliceEncoded"] * 4 + ["JobCompleted"]
    key = mini_ct_key(_prefix(request), MiniCtFormat.MULTIFRAME)
    assert isinstance(terminal, JobCompleted)
    assert terminal.artifact_uri == f"s3://{BUCKET}/{key}"
    ds = dcmread(io.BytesIO(store.objects[key][0]))
    assert ds.NumberOfFrames == 4
    assert ds.SOPInstanceUID == mini_ct_object_uid(str(request.job_id))
    assert {e.sop_instance_uid for e in sink if isinstance(e, SliceEncoded)} == {ds.SOPInstanceUID}
    assert terminal.artifact_bytes == len(store.objects[key][0])


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"z_start": 2, "z_end": 9}, "the series has 6 slices: ask for a range from 0 to 5"),
        (
            {"roi": RoiBox(row=40, column=0, rows=40, columns=40)},
            "rows must lie between 0 and 63, columns between 0 and 63",
        ),
        ({"roi": RoiBox(row=0, column=0, rows=40, columns=20)}, "too small for JPEG 2000"),
    ],
)
async def test_a_region_outside_the_series_is_refused_with_the_valid_range(
    params: dict[str, Any], words: str
) -> None:
    files = series_files(SeriesSpec(n=6, size=64))
    request = _request(files, **params)
    sink, terminal = await _run(request, _store(request, files))
    assert sink == [terminal]
    assert isinstance(terminal, JobFailed)
    assert (terminal.seq, terminal.error_code) == (1, "out-of-range")
    assert words in terminal.reason


async def test_a_slice_that_cannot_be_made_fails_the_whole_mini_ct() -> None:
    spec = SeriesSpec(n=6, size=64)
    files = series_files(spec)
    broken = dataset(spec, 3)
    broken.BitsAllocated = 32
    files[3] = (files[3][0], part10(broken))
    request = _request(files)
    store = _store(request, files)
    sink, terminal = await _run(request, store)
    assert [e.type for e in sink] == [
        "JobStarted", "SliceEncoded", "SliceEncoded", "SliceFailed", "JobFailed"
    ]  # fmt: skip
    assert isinstance(sink[3], SliceFailed)
    assert isinstance(terminal, JobFailed)
    assert terminal.seq == 5
    assert "the Mini CT would have a gap" in terminal.reason
    assert mini_ct_key(_prefix(request), MiniCtFormat.SERIES) not in store.objects
    assert store.uploads == {}  # the ZIP's upload was aborted
    assert store.aborted == [mini_ct_key(_prefix(request), MiniCtFormat.SERIES)]


@pytest.mark.parametrize("fmt", list(MiniCtFormat))
async def test_a_re_run_emits_the_same_events_and_overwrites_the_same_key(
    fmt: MiniCtFormat,
) -> None:
    files = series_files(SeriesSpec(n=5, size=64))
    request = _request(files, format=fmt)
    store = _store(request, files)
    first, _ = await _run(request, store)
    keys = set(store.objects)
    again, _ = await _run(request, store)
    # the same objects, and the re-run's attempt marker beside the first run's
    assert set(store.objects) == keys | {f"{request.tenant}/jobs/{request.job_id}/attempts/2"}
    assert {e.attempt for e in again} == {2}
    strip = {"occurred_at", "encode_ms", "download_ms", "upload_ms", "wall_ms", "cpu_s",
             "peak_rss_bytes", "attempt"}  # fmt: skip
    assert [e.model_dump(exclude=strip) for e in again] == [
        e.model_dump(exclude=strip) for e in first
    ]


def test_the_compressor_takes_mini_ct_requests() -> None:
    files = series_files(SeriesSpec(n=3, size=64))
    request = _request(files, z_start=0, z_end=2)
    assert decode_request(encode_event(request)) == request
