"""The job runner with in-memory adapters: event order and sequence, failures, the ZIP."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile

import pytest
from compressor_fakes import TIMEOUT_S, GatedEncoder, MemoryStore, request, runner

from dicompress_compressor.job import JobRunner
from dicompress_schemas import (
    EventBase,
    JobCompleted,
    JobFailed,
    JobStarted,
    SliceEncoded,
    SliceFailed,
    new_event_id,
)


async def test_events_come_in_index_order_whatever_finishes_first() -> None:
    store = MemoryStore({"src/IM10.dcm": b"c", "src/IM2.dcm": b"b", "src/IM1.dcm": b"a"})
    encoder = GatedEncoder(gated=True)
    sink: list[EventBase] = []
    req = request()
    job = asyncio.create_task(runner(store, encoder, sink).run(req))

    await encoder.wait_until_active(3)
    encoder.release(b"c")
    encoder.release(b"b")
    await encoder.wait_until_active(1)  # the two later slices are done
    assert [type(e).__name__ for e in sink] == [
        "JobStarted"
    ]  # slice 0 is not done: nothing after it
    encoder.release(b"a")
    terminal = await asyncio.wait_for(job, TIMEOUT_S)

    assert [e.seq for e in sink] == [1, 2, 3, 4, 5]
    assert all(e.event_id == new_event_id(req.job_id, e.seq) for e in sink)
    assert all(e.job_id == req.job_id and e.tenant == "acme" for e in sink)
    started, *middle, completed = sink
    assert isinstance(started, JobStarted)
    assert (started.total_slices, started.total_bytes, started.worker) == (3, 3, "w-1")
    slices = [s for s in middle if isinstance(s, SliceEncoded)]
    assert len(slices) == 3
    assert [s.source_key for s in slices] == ["src/IM1.dcm", "src/IM2.dcm", "src/IM10.dcm"]
    assert [s.entry_name for s in slices] == ["00000.dcm", "00001.dcm", "00002.dcm"]
    assert terminal is completed
    assert isinstance(completed, JobCompleted)
    assert (completed.slices_encoded, completed.slices_failed, completed.ratio) == (3, 0, 100.0)
    assert (completed.bytes_in, completed.bytes_out, completed.encode_ms) == (3, 15, 6.0)
    stamp = req.occurred_at.strftime("%Y%m%d-%H%M%S")
    assert completed.artifact_uri == f"s3://bucket/out/src-rate100-{stamp}.zip"
    assert [s.slice_key for s in slices] == [
        f"{req.tenant}/jobs/{req.job_id}/slices/{i:05d}.dcm" for i in range(3)
    ]
    assert [store.objects[s.slice_key][0] for s in slices if s.slice_key] == [
        b"enc:a", b"enc:b", b"enc:c"
    ]  # fmt: skip

    data, metadata = store.objects[f"out/src-rate100-{stamp}.zip"]
    assert metadata == {"job-id": str(req.job_id), "tenant": "acme"}
    assert completed.artifact_bytes == len(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["00000.dcm", "00001.dcm", "00002.dcm", "manifest.json"]
        assert [archive.read(n) for n in archive.namelist()[:3]] == [b"enc:a", b"enc:b", b"enc:c"]
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["job_id"] == str(req.job_id)
    assert [m["source_key"] for m in manifest["slices"]] == [s.source_key for s in slices]
    assert manifest["slices"][0]["ratio"] == 100.0
    assert manifest["slices"][0]["slice_key"] == slices[0].slice_key
    assert completed.cpu_s is not None
    assert completed.cpu_s >= 0
    assert completed.peak_rss_bytes is not None
    assert completed.peak_rss_bytes > 0


async def test_a_slice_that_fails_is_reported_and_the_job_goes_on() -> None:
    store = MemoryStore({"src/1.dcm": b"a", "src/2.txt": b"bad", "src/3.dcm": b"c"})
    sink: list[EventBase] = []
    await runner(store, GatedEncoder(), sink).run(request(output_filename="series.zip"))

    assert [type(e).__name__ for e in sink] == ["JobStarted", "SliceEncoded", "SliceFailed",
                                      "SliceEncoded", "JobCompleted"]  # fmt: skip
    failed, completed = sink[2], sink[-1]
    assert isinstance(failed, SliceFailed)
    assert failed.seq == 3
    assert (failed.slice_index, failed.source_key) == (1, "src/2.txt")
    assert "not a DICOM" in failed.reason
    assert isinstance(completed, JobCompleted)
    assert (completed.slices_encoded, completed.slices_failed) == (2, 1)
    assert completed.artifact_uri == "s3://bucket/out/series.zip"
    with zipfile.ZipFile(io.BytesIO(store.objects["out/series.zip"][0])) as archive:
        assert archive.namelist() == ["00000.dcm", "00002.dcm", "manifest.json"]
        manifest = json.loads(archive.read("manifest.json"))
    assert "not a DICOM" in manifest["slices"][1]["error"]


async def test_a_key_s3_clients_cannot_sign_is_refused_where_listed_never_read() -> None:
    """Issue 16: a control character in a source key once panicked the Rust S3 client; now the
    object is never fetched, and its slice fails with the reason in words."""
    store = MemoryStore({"src/1.dcm": b"a", "src/2\x07.dcm": b"b", "src/3\\x.dcm": b"c"})
    sink: list[EventBase] = []
    await runner(store, GatedEncoder(), sink).run(request(output_filename="series.zip"))

    failed = [e for e in sink if isinstance(e, SliceFailed)]
    assert [(f.source_key, f.error_code) for f in failed] == [
        ("src/2\x07.dcm", "unsafe-name"),
        ("src/3\\x.dcm", "unsafe-name"),
    ]
    assert all("rename the file and upload it again" in f.reason for f in failed)
    assert {key for key, _ in store.gets} == {"src/1.dcm"}  # the others never read
    completed = sink[-1]
    assert isinstance(completed, JobCompleted)
    assert (completed.slices_encoded, completed.slices_failed) == (1, 2)


async def test_when_every_slice_fails_the_job_fails_and_nothing_is_written() -> None:
    store = MemoryStore({"src/1": b"bad", "src/2": b"bad"})
    sink: list[EventBase] = []
    terminal = await runner(store, GatedEncoder(), sink).run(request())

    assert isinstance(terminal, JobFailed)
    assert terminal.seq == 4
    assert terminal.error_code == "no-slice-encoded"
    assert "src/1: not a DICOM" in terminal.reason
    assert [e.seq for e in sink] == [1, 2, 3, 4]
    assert not store.keys("out/")
    assert len(store.aborted) == 1  # the streamed ZIP's upload was dropped
    assert not store.uploads


async def test_an_empty_source_fails_with_what_to_do() -> None:
    sink: list[EventBase] = []
    terminal = await runner(MemoryStore({"other/1.dcm": b"a"}), GatedEncoder(), sink).run(request())

    assert [(type(e).__name__, e.seq) for e in sink] == [("JobStarted", 1), ("JobFailed", 2)]
    assert isinstance(terminal, JobFailed)
    assert terminal.error_code == "source-empty"
    assert "s3://bucket/src/" in terminal.reason
    assert "upload" in terminal.reason


async def test_another_jobs_artifact_is_not_overwritten_unless_asked() -> None:
    store = MemoryStore({"src/1.dcm": b"a"})
    store.objects["out/taken.zip"] = (b"old", {"job-id": "someone-else"})
    store.objects["out/taken-1.zip"] = (b"old", {"job-id": "someone-else"})
    sink: list[EventBase] = []
    terminal = await runner(store, GatedEncoder(), sink).run(request(output_filename="taken.zip"))

    assert isinstance(terminal, JobCompleted)
    assert terminal.artifact_uri == "s3://bucket/out/taken-2.zip"
    assert store.objects["out/taken.zip"][0] == b"old"
    assert store.objects["out/taken-1.zip"][0] == b"old"

    forced = request(output_filename="taken.zip", overwrite_existing=True)
    done = await runner(store, GatedEncoder(), []).run(forced)
    assert isinstance(done, JobCompleted)
    assert done.artifact_uri == "s3://bucket/out/taken.zip"
    assert store.objects["out/taken.zip"][1]["job-id"] == str(forced.job_id)


async def test_a_rerun_of_the_same_job_may_replace_its_own_artifact() -> None:
    store = MemoryStore({"src/1.dcm": b"a"})
    req = request()
    first: list[EventBase] = []
    second: list[EventBase] = []
    done = await runner(store, GatedEncoder(), first).run(req)
    again = await runner(store, GatedEncoder(), second).run(req)
    assert isinstance(done, JobCompleted)
    assert isinstance(again, JobCompleted)
    assert again.artifact_uri == done.artifact_uri  # same name: its own object is no collision
    assert [e.event_id for e in first] == [e.event_id for e in second]  # consumers dedup
    assert {e.attempt for e in first} == {1}
    assert {e.attempt for e in second} == {2}


async def test_slices_in_flight_are_bounded() -> None:
    store = MemoryStore({f"src/{i}.dcm": bytes([i]) for i in range(12)})
    encoder = GatedEncoder()
    sink: list[EventBase] = []
    await runner(store, encoder, sink, max_in_flight=3).run(request())
    assert encoder.calls == 12
    assert 1 < encoder.max_active <= 3
    assert [e.seq for e in sink] == list(range(1, 15))


async def test_an_unexpected_error_ends_the_job_as_internal() -> None:
    store = MemoryStore({})
    store.fail_listing = RuntimeError("the bucket went away")
    sink: list[EventBase] = []
    terminal = await runner(store, GatedEncoder(), sink).run(request())
    assert isinstance(terminal, JobFailed)
    assert terminal.error_code == "internal"
    assert terminal.seq == 1  # nothing was emitted before it
    assert "the bucket went away" in terminal.reason
    assert sink == [terminal]


async def test_an_output_name_that_escapes_its_prefix_is_refused() -> None:
    sink: list[EventBase] = []
    store = MemoryStore({"src/1.dcm": b"a"})
    # the contract refuses such a name at decode (OutputFilename); the compressor checks the
    # key it builds anyway, so an event made without validation cannot escape either
    escaping = request().model_copy(update={"output_filename": "../x.zip"})
    terminal = await runner(store, GatedEncoder(), sink).run(escaping)
    assert isinstance(terminal, JobFailed)
    assert terminal.error_code == "invalid-uri"
    assert "'..'" in terminal.reason


async def test_a_failure_to_emit_propagates_so_the_request_is_not_committed() -> None:
    async def broken(event: EventBase) -> None:
        raise ConnectionError("broker unreachable")

    job = JobRunner(MemoryStore({"src/1.dcm": b"a"}), GatedEncoder(), broken, "w", 2)
    with pytest.raises(ConnectionError):
        await job.run(request())
