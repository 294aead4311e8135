"""The job runner with in-memory adapters: event order and sequence, failures, the ZIP."""

from __future__ import annotations

import asyncio
import io
import uuid
import zipfile
from typing import IO

import pytest

from dicompress_compressor.encoder import EncodedSlice, EncodeOptions
from dicompress_compressor.errors import UnsupportedInput
from dicompress_compressor.job import JobRunner
from dicompress_compressor.storage import SourceObject
from dicompress_infra.s3 import S3Uri
from dicompress_schemas import (
    CompressionRequested,
    EventBase,
    JobCompleted,
    JobFailed,
    JobStarted,
    SliceEncoded,
    SliceFailed,
    new_event_id,
)

TIMEOUT_S = 10


class MemoryStore:
    """An `ObjectStore` in a dict: key -> (bytes, metadata)."""

    def __init__(self, objects: dict[str, bytes], bucket: str = "bucket") -> None:
        self.bucket = bucket
        self.objects: dict[str, tuple[bytes, dict[str, str]]] = {
            key: (data, {}) for key, data in objects.items()
        }
        self.fail_listing: Exception | None = None

    async def list_objects(self, prefix: S3Uri) -> list[SourceObject]:
        if self.fail_listing is not None:
            raise self.fail_listing
        return [
            SourceObject(self.bucket, key, len(data))
            for key, (data, _) in self.objects.items()
            if key.startswith(prefix.prefix)
        ]

    async def get_bytes(self, obj: SourceObject) -> bytes:
        return self.objects[obj.key][0]

    async def head_metadata(self, uri: S3Uri) -> dict[str, str] | None:
        found = self.objects.get(uri.key)
        return None if found is None else found[1]

    async def upload(self, uri: S3Uri, body: IO[bytes], metadata: dict[str, str]) -> None:
        self.objects[uri.key] = (body.read(), metadata)


class GatedEncoder:
    """Encodes b'x' as b'enc:x'; refuses b'bad'; with gates, a slice finishes when let go."""

    def __init__(self, gated: bool = False) -> None:
        self.gates: dict[bytes, asyncio.Event] = {}
        self.gated = gated
        self.active = 0
        self.max_active = 0
        self.calls = 0
        self.changed = asyncio.Condition()  # notified whenever `active` changes

    async def _count(self, delta: int) -> None:
        async with self.changed:
            self.active += delta
            self.max_active = max(self.max_active, self.active)
            self.changed.notify_all()

    async def wait_until_active(self, count: int) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: self.active == count), TIMEOUT_S)

    async def encode(self, data: bytes, options: EncodeOptions) -> EncodedSlice:
        self.calls += 1
        await self._count(+1)
        try:
            if self.gated:
                await self.gates.setdefault(data, asyncio.Event()).wait()
            for _ in range(3):
                await asyncio.sleep(0)  # let other slices run, as a pool would
            if data == b"bad":
                raise UnsupportedInput("not a DICOM Part 10 file")
            return EncodedSlice(b"enc:" + data, pixel_bytes=1000, codestream_bytes=10,
                                ratio=100.0, encode_ms=2.0)  # fmt: skip
        finally:
            await self._count(-1)

    def release(self, data: bytes) -> None:
        self.gates.setdefault(data, asyncio.Event()).set()


def request(**overrides: object) -> CompressionRequested:
    job_id = uuid.uuid4()
    fields: dict[str, object] = {
        "event_id": new_event_id(job_id, 0),
        "job_id": job_id,
        "tenant": "acme",
        "seq": 0,
        "source_uri": "s3://bucket/src/",
        "target_uri": "s3://bucket/out",
        "compression_rate": 100.0,
    }
    return CompressionRequested.model_validate(fields | overrides)


def runner(
    store: MemoryStore, encoder: GatedEncoder, sink: list[EventBase], **kw: int
) -> JobRunner:
    async def emit(event: EventBase) -> None:
        sink.append(event)

    return JobRunner(store=store, encoder=encoder, emit=emit, worker="w-1",
                     max_in_flight=kw.get("max_in_flight", 4))  # fmt: skip


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
    assert completed.artifact_uri == f"s3://bucket/out/{req.job_id}.zip"

    data, metadata = store.objects[f"out/{req.job_id}.zip"]
    assert metadata == {"job-id": str(req.job_id), "tenant": "acme"}
    assert completed.artifact_bytes == len(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["00000.dcm", "00001.dcm", "00002.dcm"]
        assert [archive.read(n) for n in archive.namelist()] == [b"enc:a", b"enc:b", b"enc:c"]
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}


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
        assert archive.namelist() == ["00000.dcm", "00002.dcm"]


async def test_when_every_slice_fails_the_job_fails_and_nothing_is_written() -> None:
    store = MemoryStore({"src/1": b"bad", "src/2": b"bad"})
    sink: list[EventBase] = []
    terminal = await runner(store, GatedEncoder(), sink).run(request())

    assert isinstance(terminal, JobFailed)
    assert terminal.seq == 4
    assert terminal.error_code == "no-slice-encoded"
    assert "src/1: not a DICOM" in terminal.reason
    assert [e.seq for e in sink] == [1, 2, 3, 4]
    assert not [k for k in store.objects if k.startswith("out/")]


async def test_an_empty_source_fails_with_what_to_do() -> None:
    sink: list[EventBase] = []
    terminal = await runner(MemoryStore({"other/1.dcm": b"a"}), GatedEncoder(), sink).run(request())

    assert [(type(e).__name__, e.seq) for e in sink] == [("JobStarted", 1), ("JobFailed", 2)]
    assert isinstance(terminal, JobFailed)
    assert terminal.error_code == "source-empty"
    assert "s3://bucket/src/" in terminal.reason
    assert "upload" in terminal.reason


async def test_another_jobs_artifact_is_not_overwritten_unless_asked() -> None:
    store = MemoryStore({"src/1.dcm": b"a", "out/taken.zip": b"old"})
    store.objects["out/taken.zip"] = (b"old", {"job-id": "someone-else"})
    encoder = GatedEncoder()
    sink: list[EventBase] = []
    terminal = await runner(store, encoder, sink).run(request(output_filename="taken.zip"))

    assert isinstance(terminal, JobFailed)
    assert terminal.error_code == "target-exists"
    assert [e.seq for e in sink] == [1, 2]  # no gap before the terminal event
    assert "overwrite_existing" in terminal.reason
    assert encoder.calls == 0  # checked before any encoding
    assert store.objects["out/taken.zip"][0] == b"old"

    forced = request(output_filename="taken.zip", overwrite_existing=True)
    assert isinstance(await runner(store, encoder, []).run(forced), JobCompleted)
    assert store.objects["out/taken.zip"][1]["job-id"] == str(forced.job_id)


async def test_a_rerun_of_the_same_job_may_replace_its_own_artifact() -> None:
    store = MemoryStore({"src/1.dcm": b"a"})
    req = request()
    first: list[EventBase] = []
    second: list[EventBase] = []
    await runner(store, GatedEncoder(), first).run(req)
    await runner(store, GatedEncoder(), second).run(req)
    assert [type(e).__name__ for e in second][-1] == "JobCompleted"
    assert [e.event_id for e in first] == [e.event_id for e in second]  # consumers dedup


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
    terminal = await runner(store, GatedEncoder(), sink).run(request(output_filename="../x.zip"))
    assert isinstance(terminal, JobFailed)
    assert terminal.error_code == "invalid-uri"
    assert "'..'" in terminal.reason


async def test_a_failure_to_emit_propagates_so_the_request_is_not_committed() -> None:
    async def broken(event: EventBase) -> None:
        raise ConnectionError("broker unreachable")

    job = JobRunner(MemoryStore({"src/1.dcm": b"a"}), GatedEncoder(), broken, "w", 2)
    with pytest.raises(ConnectionError):
        await job.run(request())
