"""The job runner when things go wrong around it: a re-run after a crash reuses the stored
slices, a cancel stops the job at once, a bucket outside the allowed list is refused, and the
streamed ZIP keeps its parts bounded."""

from __future__ import annotations

import asyncio
import io
import zipfile

from compressor_fakes import (
    TIMEOUT_S,
    GatedEncoder,
    MemoryStore,
    killed_after_three_slices,
    request,
    runner,
    until,
)

from dicompress_compressor.cancellation import CancelRegistry
from dicompress_schemas import (
    EventBase,
    JobCancelled,
    JobCompleted,
    JobFailed,
    SliceEncoded,
    new_event_id,
)


async def test_a_rerun_reuses_the_slices_a_dead_run_stored() -> None:
    store = MemoryStore({f"src/{i}.dcm": bytes([65 + i]) for i in range(6)})
    req = request()
    first = await killed_after_three_slices(store, req)
    assert len(store.keys(f"{req.tenant}/jobs/{req.job_id}/slices/")) >= 3

    encoder = GatedEncoder()
    second: list[EventBase] = []
    terminal = await runner(store, encoder, second).run(req)

    assert isinstance(terminal, JobCompleted)
    assert encoder.calls <= 3  # the stored slices were not encoded again
    assert [e.seq for e in second] == list(range(1, 9))
    assert all(e.event_id == new_event_id(req.job_id, e.seq) for e in second)
    assert {e.attempt for e in second} == {2}
    reused = [e for e in second if isinstance(e, SliceEncoded)]
    assert [e.bytes_out for e in reused] == [5] * 6
    same = {"occurred_at", "attempt"}  # all else is the same fact, told again
    assert [e.model_dump(exclude=same) for e in reused[:3]] == [
        e.model_dump(exclude=same) for e in first[1:4]
    ]
    data, _ = store.objects[terminal.artifact_uri.removeprefix("s3://bucket/")]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert names == [f"{i:05d}.dcm" for i in range(6)] + ["manifest.json"]
        assert [archive.read(n) for n in names[:6]] == [b"enc:" + bytes([65 + i]) for i in range(6)]


async def test_a_cancel_stops_the_job_and_drops_its_upload() -> None:
    store = MemoryStore({f"src/{i}.dcm": bytes([i]) for i in range(10)})
    encoder = GatedEncoder(gated=True)
    registry = CancelRegistry()
    sink: list[EventBase] = []
    req = request()
    job = asyncio.create_task(runner(store, encoder, sink, cancellations=registry).run(req))
    encoder.release(bytes([0]))
    await asyncio.wait_for(until(lambda: len(sink) == 2), TIMEOUT_S)

    registry.cancel(req.job_id, "the user changed their mind")
    terminal = await asyncio.wait_for(job, TIMEOUT_S)

    assert isinstance(terminal, JobCancelled)
    assert terminal.reason == "the user changed their mind"
    assert [(e.type, e.seq) for e in sink] == [
        ("JobStarted", 1), ("SliceEncoded", 2), ("JobCancelled", 3)
    ]  # fmt: skip
    assert not store.uploads  # aborted, not left behind
    assert len(store.aborted) == 1
    assert not store.keys("out/")
    assert encoder.active == 0  # the slices in flight were cancelled too


async def test_a_job_cancelled_before_it_is_picked_up_is_skipped() -> None:
    store = MemoryStore({"src/1.dcm": b"a"})
    registry = CancelRegistry()
    req = request()
    registry.cancel(req.job_id, "not needed")
    encoder = GatedEncoder()
    sink: list[EventBase] = []
    terminal = await runner(store, encoder, sink, cancellations=registry).run(req)
    assert isinstance(terminal, JobCancelled)
    assert sink == [terminal]
    assert terminal.seq == 1
    assert encoder.calls == 0


def test_the_cancel_registry_forgets_the_oldest_first() -> None:
    registry = CancelRegistry(capacity=2)
    first, second, third = (request().job_id for _ in range(3))
    watcher = registry.watch(second)
    for job_id in (first, second, third):
        registry.cancel(job_id, "stop")
    assert watcher.is_set()
    assert registry.reason(first) is None
    assert registry.reason(second) == registry.reason(third) == "stop"
    assert registry.watch(third).is_set()


async def test_a_bucket_outside_the_allowed_list_is_refused_before_anything() -> None:
    store = MemoryStore({"src/1.dcm": b"a"})
    sink: list[EventBase] = []
    allowed = frozenset({"dicompress-data"})
    terminal = await runner(store, GatedEncoder(), sink, allowed_buckets=allowed).run(request())
    assert isinstance(terminal, JobFailed)
    assert (terminal.error_code, terminal.seq) == ("bucket-not-allowed", 1)
    assert "'bucket'" in terminal.reason
    assert "COMPRESSOR_ALLOWED_BUCKETS" in terminal.reason
    assert set(store.objects) == {"src/1.dcm"}  # not even an attempt marker


async def test_zip_parts_are_bounded_whatever_the_series_length() -> None:
    store = MemoryStore({f"src/{i}.dcm": bytes([i % 256]) * 3000 for i in range(300)})
    encoder = GatedEncoder()
    part_size = 64 * 1024  # small, so that a few hundred slices make many parts
    sink: list[EventBase] = []
    terminal = await runner(store, encoder, sink, max_in_flight=3, part_size=part_size).run(
        request()
    )
    assert isinstance(terminal, JobCompleted)
    assert 1 < encoder.max_active <= 3  # slices in flight stay bounded too
    assert len(store.part_sizes) > 10
    assert set(store.part_sizes[:-1]) == {part_size}
    assert terminal.artifact_bytes == sum(store.part_sizes)


async def test_a_source_at_the_buckets_root_skips_the_jobs_own_objects() -> None:
    store = MemoryStore({"1.dcm": b"a", "2.dcm": b"b"})
    req = request(source_uri="s3://bucket/", target_uri="s3://bucket/out/")
    first: list[EventBase] = []
    second: list[EventBase] = []
    await runner(store, GatedEncoder(), first).run(req)
    await runner(store, GatedEncoder(), second).run(req)  # its slices and marker are there now
    assert store.keys(
        f"{req.tenant}/jobs/{req.job_id}/"
    )  # the attempt markers and the stored slices
    for sink in (first, second):
        keys = [e.source_key for e in sink if isinstance(e, SliceEncoded)]
        assert keys[:2] == ["1.dcm", "2.dcm"]
        assert not [k for k in keys if k.startswith(f"{req.tenant}/jobs/")]
