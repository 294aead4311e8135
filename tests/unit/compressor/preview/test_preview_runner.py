"""The preview job on in-memory adapters: its events in order, its stored slices, its
refusals, re-runs and cancellation; and the compressor's request decoder routing previews."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from preview_series import SeriesSpec, dataset, part10, series_files
from pydicom import dcmread
from tests.unit.compressor.compressor_fakes import MemoryStore, projected

from dicompress_compressor.cancellation import CancelRegistry
from dicompress_compressor.preview.dataset import PreviewSliceSpec, preview_series_uid
from dicompress_compressor.preview.encode import PreviewSlice, make_preview_slice
from dicompress_compressor.preview.runner import PreviewRunner
from dicompress_compressor.worker import decode_request
from dicompress_schemas import (
    DecodeError,
    EventBase,
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobStarted,
    ProductRequested,
    SliceEncoded,
    SliceFailed,
    encode_event,
    new_event_id,
)
from dicompress_schemas.jobs import Status
from dicompress_schemas.products import (
    PreviewParams,
    ThumbnailParams,
    preview_slice_key,
    product_request,
)

TENANT, BUCKET = "acme", "bucket"


class InlineMaker:
    """Makes preview slices in this process, in order of call; `gate` holds slice `hold`."""

    def __init__(self, hold: int | None = None) -> None:
        self.hold = hold
        self.gate = asyncio.Event()
        self.held = asyncio.Event()
        self.calls: list[int] = []

    async def make(self, sources: list[bytes], spec: PreviewSliceSpec) -> PreviewSlice:
        self.calls.append(spec.index)
        if spec.index == self.hold:
            self.held.set()
            await self.gate.wait()
        await asyncio.sleep(0)
        return make_preview_slice(sources, spec)


def _request(files: list[tuple[str, bytes]], **params: Any) -> ProductRequested:
    first = dcmread(io.BytesIO(files[0][1]))
    return product_request(
        tenant=TENANT,
        bucket=BUCKET,
        study_uid=first.StudyInstanceUID,
        series_uid=first.SeriesInstanceUID,
        source_version="0" * 64,
        params=PreviewParams(**params),
        trigger="upload",
    )


def _store(request: ProductRequested, files: list[tuple[str, bytes]]) -> MemoryStore:
    prefix = request.source_uri.removeprefix(f"s3://{BUCKET}/")
    return MemoryStore({prefix + name: data for name, data in files}, bucket=BUCKET)


def _runner(
    store: MemoryStore, sink: list[EventBase], maker: InlineMaker | None = None, **kw: Any
) -> PreviewRunner:
    async def emit(event: EventBase) -> None:
        sink.append(event)

    return PreviewRunner(
        store=store,
        maker=maker or InlineMaker(),
        emit=emit,
        worker="w-1",
        **({"max_in_flight": 3} | kw),
    )


async def test_a_preview_job_emits_its_slices_in_order_and_stores_them() -> None:
    files = series_files(SeriesSpec(n=9, size=64))
    request = _request(files, bin_xy=2, bin_z=2)
    store, sink = _store(request, files), []
    terminal = await _runner(store, sink).run(request)

    assert [e.seq for e in sink] == list(range(1, 7))
    assert [e.type for e in sink] == ["JobStarted"] + ["SliceEncoded"] * 4 + ["JobCompleted"]
    assert all(e.event_id == new_event_id(request.job_id, e.seq) for e in sink)
    started = sink[0]
    assert isinstance(started, JobStarted)
    assert started.total_slices == 4  # 9 slices by 2: the ninth is left out
    assert started.total_bytes == sum(len(d) for _, d in files[:8])  # the lowest eight
    slices = [e for e in sink if isinstance(e, SliceEncoded)]
    prefix = request.target_uri.removeprefix(f"s3://{BUCKET}/")
    series_uid = preview_series_uid(str(request.job_id), request.series_instance_uid)
    for i, event in enumerate(slices):
        assert event.slice_index == i
        assert event.total_slices == 4
        assert event.slice_key == preview_slice_key(prefix, i)
        assert event.entry_name == f"{i:05d}.dcm"
        assert event.series_instance_uid == series_uid
        assert event.psnr_db is not None
        assert event.max_error_hu is not None
        assert event.ratio > 1
        stored = dcmread(io.BytesIO(store.objects[event.slice_key][0]))
        assert stored.SOPInstanceUID == event.sop_instance_uid
        assert stored.SeriesInstanceUID == series_uid
        assert [float(v) for v in stored.ImagePositionPatient] == pytest.approx(event.position)
        assert stored.SourceImageSequence[0].ReferencedSOPInstanceUID == (
            event.source_sop_instance_uid
        )
        source = dcmread(io.BytesIO(store.objects[event.source_key][0]))
        assert source.SOPInstanceUID == event.source_sop_instance_uid
    along = [e.position_along_normal for e in slices]
    assert along == sorted(along)  # anatomical order
    assert along[0] == pytest.approx(20.0 + 0.625)
    assert terminal is sink[-1]
    assert isinstance(terminal, JobCompleted)
    assert (terminal.slices_encoded, terminal.slices_failed) == (4, 0)
    assert terminal.artifact_uri == request.target_uri
    assert terminal.bytes_out == terminal.artifact_bytes == sum(e.bytes_out for e in slices)
    assert terminal.bytes_in == sum(e.bytes_in for e in slices)
    assert terminal.ratio == pytest.approx(10, rel=0.3)
    assert store.keys(prefix) == [preview_slice_key(prefix, i) for i in range(4)]


async def test_a_re_run_emits_the_same_ids_and_stores_the_same_bytes() -> None:
    files = series_files(SeriesSpec(n=4, size=64))
    request = _request(files)
    store, first, again = _store(request, files), [], []
    await _runner(store, first).run(request)
    stored = {k: v[0] for k, v in store.objects.items()}
    await _runner(store, again).run(request)
    assert [e.event_id for e in again] == [e.event_id for e in first]
    marker = f"{request.tenant}/jobs/{request.job_id}/attempts/2"  # the re-run's own
    assert {k: v[0] for k, v in store.objects.items() if k != marker} == stored
    assert {e.attempt for e in again} == {2}
    strip = {"occurred_at", "encode_ms", "download_ms", "upload_ms", "wall_ms", "cpu_s",
             "peak_rss_bytes", "attempt"}  # fmt: skip
    assert [e.model_dump(exclude=strip) for e in again] == [
        e.model_dump(exclude=strip) for e in first
    ]


async def test_z_binning_a_series_with_a_missing_slice_is_refused_in_words() -> None:
    files = series_files(SeriesSpec(n=6, size=64))
    del files[2]
    request = _request(files, bin_z=2)
    sink: list[EventBase] = []
    terminal = await _runner(_store(request, files), sink).run(request)
    assert sink == [terminal]
    assert isinstance(terminal, JobFailed)
    assert terminal.seq == 1
    assert terminal.error_code == "non-uniform-spacing"
    assert "not evenly spaced" in terminal.reason
    assert "ask for bin_z 1" in terminal.reason


async def test_a_slice_that_cannot_be_made_fails_alone() -> None:
    spec = SeriesSpec(n=4, size=64)
    files = series_files(spec)
    broken = dataset(spec, 2)
    broken.BitsAllocated = 32  # an image still, by its header, but not one we can bin
    files[2] = (files[2][0], part10(broken))
    request = _request(files)
    sink: list[EventBase] = []
    terminal = await _runner(_store(request, files), sink).run(request)
    failed = [e for e in sink if isinstance(e, SliceFailed)]
    assert len(failed) == 1
    assert failed[0].error_code == "unsupported"
    assert "only 8- and 16-bit images" in failed[0].reason
    assert failed[0].source_key.endswith(files[2][0])
    assert isinstance(terminal, JobCompleted)
    assert (terminal.slices_encoded, terminal.slices_failed) == (3, 1)
    assert [e.seq for e in sink] == list(range(1, 7))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"target_uri": f"s3://{BUCKET}/other-tenant/products/x/"}, "invalid-uri"),
        ({"source_uri": "s3://elsewhere/acme/studies/x/"}, "bucket-not-allowed"),
        ({"series_instance_uid": "1.2.3.4"}, "source-empty"),
    ],
)
async def test_requests_outside_their_series_are_refused(change: dict[str, str], code: str) -> None:
    files = series_files(SeriesSpec(n=3, size=64))
    request = _request(files)
    store = _store(request, files)
    request = request.model_copy(update=change)
    sink: list[EventBase] = []
    terminal = await _runner(store, sink, allowed_buckets=frozenset({BUCKET})).run(request)
    assert isinstance(terminal, JobFailed)
    assert (terminal.seq, terminal.error_code) == (1, code)
    assert not store.keys(f"{TENANT}/products/")


async def test_a_cancel_ends_the_job_at_the_next_seq() -> None:
    files = series_files(SeriesSpec(n=6, size=64))
    request = _request(files)
    registry = CancelRegistry()
    maker = InlineMaker(hold=2)
    sink: list[EventBase] = []
    runner = _runner(_store(request, files), sink, maker, cancellations=registry)
    job = asyncio.create_task(runner.run(request))
    await asyncio.wait_for(maker.held.wait(), 10)  # slice 2 is being made, and never will be
    registry.cancel(request.job_id, "the user changed their mind")
    terminal = await asyncio.wait_for(job, 10)
    assert isinstance(terminal, JobCancelled)
    assert terminal.reason == "the user changed their mind"
    assert 2 <= terminal.seq <= 4  # after JobStarted, before slice 2's event
    assert [e.seq for e in sink] == list(range(1, terminal.seq + 1))  # no gap


async def test_a_rerun_that_finds_the_series_gone_fails_past_the_dead_runs_seqs() -> None:
    files = series_files(SeriesSpec(n=6, size=64))
    request = _request(files)
    store, first = _store(request, files), []
    maker = InlineMaker(hold=2)
    dead = asyncio.create_task(_runner(store, first, maker).run(request))
    await asyncio.wait_for(maker.held.wait(), 10)  # slices 0 and 1 made, slice 2 never will be
    dead.cancel()  # killed: nothing more reaches the log
    await asyncio.gather(dead, return_exceptions=True)
    assert first, "the first run emitted nothing"
    for key in store.keys(request.source_uri.removeprefix(f"s3://{BUCKET}/")):
        del store.objects[key]  # the series is deleted before the request is redelivered

    again: list[EventBase] = []
    terminal = await _runner(store, again).run(request)

    assert isinstance(terminal, JobFailed)
    assert terminal.error_code == "source-empty"
    assert again == [terminal]  # refused before JobStarted...
    assert terminal.seq == 6 + 3  # ...past 2+6, the dead run's ceiling, not at seq 1
    assert terminal.seq > max(e.seq for e in first)
    view = projected(first + again)
    assert view is not None
    assert view.status is Status.FAILED


def test_the_compressor_takes_previews_and_dead_letters_other_products() -> None:
    files = series_files(SeriesSpec(n=3, size=64))
    preview = _request(files)
    assert decode_request(encode_event(preview)) == preview
    thumbnails = preview.model_copy(update={"params": ThumbnailParams()})
    with pytest.raises(DecodeError, match="thumbnails ProductRequested belongs on the render"):
        decode_request(encode_event(thumbnails))
