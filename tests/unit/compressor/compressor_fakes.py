"""In-memory adapters for the job runner's unit tests: an object store that behaves like S3
(multipart uploads invisible until completed) and an encoder whose slices finish on demand."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from dicompress_compressor.encoder import EncodedSlice, EncodeOptions
from dicompress_compressor.errors import UnsupportedInput
from dicompress_compressor.job import JobRunner
from dicompress_compressor.storage import SourceObject
from dicompress_infra.s3 import S3Uri
from dicompress_schemas import CompressionRequested, EventBase
from dicompress_schemas.envelope import utc_now
from dicompress_schemas.histories import JobHistory
from dicompress_schemas.jobs import JobView, apply

TIMEOUT_S = 10


class MemoryStore:
    """An `ObjectStore` in a dict: key -> (bytes, metadata); multipart uploads kept apart
    until completed, as S3 does."""

    def __init__(self, objects: dict[str, bytes], bucket: str = "bucket") -> None:
        self.bucket = bucket
        self.objects: dict[str, tuple[bytes, dict[str, str]]] = {
            key: (data, {}) for key, data in objects.items()
        }
        self.fail_listing: Exception | None = None
        self.uploads: dict[str, tuple[str, dict[str, str], dict[int, bytes]]] = {}
        self.aborted: list[str] = []
        self.part_sizes: list[int] = []
        self.gets: list[tuple[str, int | None]] = []  # (key, length; None: the whole object)
        self.fail_gets: dict[str, Exception] = {}

    async def list_objects(self, prefix: S3Uri) -> list[SourceObject]:
        if self.fail_listing is not None:
            raise self.fail_listing
        return [
            SourceObject(self.bucket, key, len(data))
            for key, (data, _) in self.objects.items()
            if key.startswith(prefix.prefix)
        ]

    async def list_ours(self, prefix: S3Uri) -> list[SourceObject]:
        return await self.list_objects(prefix)

    async def get_bytes(self, obj: SourceObject) -> bytes:
        self.gets.append((obj.key, None))
        if obj.key in self.fail_gets:
            raise self.fail_gets[obj.key]
        return self.objects[obj.key][0]

    async def get_range(self, obj: SourceObject, length: int) -> bytes:
        self.gets.append((obj.key, length))
        if obj.key in self.fail_gets:
            raise self.fail_gets[obj.key]
        return self.objects[obj.key][0][:length]

    async def head_metadata(self, uri: S3Uri) -> dict[str, str] | None:
        found = self.objects.get(uri.key)
        return None if found is None else found[1]

    async def get_with_metadata(self, uri: S3Uri) -> tuple[bytes, dict[str, str]] | None:
        return self.objects.get(uri.key)

    async def put_bytes(self, uri: S3Uri, data: bytes, metadata: dict[str, str]) -> None:
        self.objects[uri.key] = (data, metadata)

    async def start_multipart(self, uri: S3Uri, metadata: dict[str, str]) -> str:
        upload_id = uuid.uuid4().hex
        self.uploads[upload_id] = (uri.key, metadata, {})
        return upload_id

    async def upload_part(self, uri: S3Uri, upload_id: str, number: int, data: bytes) -> str:
        self.uploads[upload_id][2][number] = data
        self.part_sizes.append(len(data))
        return f"etag-{number}"

    async def complete_multipart(self, uri: S3Uri, upload_id: str, etags: list[str]) -> None:
        key, metadata, parts = self.uploads.pop(upload_id)
        assert etags == [f"etag-{n}" for n in sorted(parts)]
        self.objects[key] = (b"".join(parts[n] for n in sorted(parts)), metadata)

    async def abort_multipart(self, uri: S3Uri, upload_id: str) -> None:
        self.uploads.pop(upload_id)
        self.aborted.append(uri.key)

    def keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))


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
    """A request as the API publishes it (now, none of the golden example's options)."""
    fields: dict[str, object] = {
        "source_uri": "s3://bucket/src/",
        "target_uri": "s3://bucket/out",
        "compression_rate": 100.0,
    }
    return JobHistory(tenant="acme").requested(at=utc_now(), bare=True, **(fields | overrides))


def runner(
    store: MemoryStore, encoder: GatedEncoder, sink: list[EventBase], **kw: Any
) -> JobRunner:
    async def emit(event: EventBase) -> None:
        sink.append(event)

    return JobRunner(store=store, encoder=encoder, emit=emit, worker="w-1",
                     **({"max_in_flight": 4} | kw))  # fmt: skip


def projected(events: list[EventBase]) -> JobView | None:
    """The job as every reader keeps it: the first event of each seq (a later one on a seq
    already recorded is dropped, a duplicate or not), folded by the contract's `jobs.apply`."""
    first: dict[int, Any] = {}  # every EventBase of a job is one of the contract's `Event`
    for event in events:
        first.setdefault(event.seq, event)
    view = None
    for event in first.values():
        view = apply(view, event)
    return view


async def until(check: Callable[[], bool]) -> None:
    """Return once `check()` holds (bound it with `asyncio.wait_for`)."""
    while not check():  # noqa: ASYNC110  # polling a plain list: there is no event to wait on
        await asyncio.sleep(0.001)


async def killed_after_three_slices(
    store: MemoryStore, req: CompressionRequested
) -> list[EventBase]:
    """A first run of `req` that encoded three slices (its source's first three, each object's
    bytes its content) and was killed: as good as kill -9 for the store, nothing is cleaned up.
    Its events."""
    encoder = GatedEncoder(gated=True)
    first: list[EventBase] = []
    dead = asyncio.create_task(runner(store, encoder, first).run(req))
    for i in range(3):
        encoder.release(bytes([65 + i]))
    await asyncio.wait_for(until(lambda: len(first) == 4), TIMEOUT_S)  # started + 3 slices
    dead.cancel()
    await asyncio.gather(dead, return_exceptions=True)
    return first
