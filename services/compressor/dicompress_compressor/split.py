"""The owner's side of a job spread over the group (`dicompress_schemas.tasks`).

A job of at least `threshold` slices has its slices put on the tasks topic in ranges of
`size`; every compressor (this one too, through its tasks loop) takes ranges, encodes their
slices and stores them in the job's folder. The owner keeps running the job as before, in
index order, but a slice of a published range is first awaited in the job's folder rather
than encoded: once it is there, the pipeline reuses it as a re-run does (its event, its place
in the ZIP). The owner encodes a slice itself when its range ended without it (the slice
failed there: it fails again here, with its reason) or when nothing of the job has moved for
`stall_s` (a task lost with its worker is handed to another member once the group notices,
within its session timeout; past the stall the owner stops waiting for it).

So the tasks can only make a job faster: whatever becomes of them, the job's events and its
ZIP come from the owner, each slice once.

A compressor alone in its lane's tasks group (it holds every partition of the tasks topic)
does not spread: its own tasks loop would take every range onto the same pool, and each slice
would cost a PUT, a GET back and its share of the folder's listings for nothing, and the pool
idled at each range's end. With the reads back through obstore, 4 studies at once on one
compressor went from 30.3 to 27.3 CPU-s a study and from 1.84 to 1.92 cores busy
(docs/SCHEDULING.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from dicompress_compressor.storage import ObjectStore, SourceObject
from dicompress_infra.s3 import S3Uri
from dicompress_schemas import CompressionRequested, Lane
from dicompress_schemas.tasks import SliceRangeRequested, TaskSlice, slice_ranges, task_id

# Listing a job's slices makes the S3 server read hundreds of entries; the range markers are a
# few. The first bench_split runs lost a third of the encoder's time to listing both every 0.25 s.
SLICES_EVERY_S = 2.0

PublishTask = Callable[[SliceRangeRequested, int], Awaitable[None]]  # the task, its ordinal
Shared = Callable[[Lane], bool]  # whether another compressor could take the lane's ranges


def always_shared(lane: Lane) -> bool:
    return True


def tasks_prefix(own: S3Uri) -> S3Uri:
    """Markers `tasks/<first index>`, one per range a task finished."""
    return own.child("tasks/")


def task_marker(own: S3Uri, first: int) -> S3Uri:
    return tasks_prefix(own).child(f"{first:05d}")


@dataclass(frozen=True)
class Splitter:
    """When and how a job is spread: at least `threshold` slices (0: never), in ranges of
    `size`, published with `publish`, and only while `shared` says another compressor is in
    the lane's tasks group."""

    publish: PublishTask
    threshold: int
    size: int
    stall_s: float = 30.0
    poll_s: float = 0.25
    shared: Shared = always_shared

    def applies(self, slices: int, lane: Lane) -> bool:
        return self.threshold > 0 and slices >= self.threshold and self.shared(lane)

    async def spread(
        self,
        request: CompressionRequested,
        attempt: int,
        lane: Lane,
        sources: Sequence[SourceObject],
        stored: frozenset[int],
        store: ObjectStore,
        own: S3Uri,
    ) -> RemoteSlices:
        """Publish a task per range not already stored; the slices to await, as they come."""
        ranges = slice_ranges(len(sources), self.size)
        for ordinal, indices in enumerate(ranges):
            if all(i in stored for i in indices):
                continue  # an earlier run stored it all: nothing to do there
            await self.publish(
                SliceRangeRequested(
                    task_id=task_id(request.job_id, indices.start),
                    job_id=request.job_id,
                    tenant=request.tenant,
                    lane=lane,
                    attempt=attempt,
                    request=request,
                    slices=[
                        TaskSlice(index=i, key=sources[i].key, size=sources[i].size)
                        for i in indices
                    ],
                ),
                ordinal,
            )
        return RemoteSlices(store, own, self.size, self.stall_s, self.poll_s, set(stored))


class RemoteSlices:
    """What the job's folder holds, read at most every `poll_s` by whoever waits: the markers
    of the ranges ended (a few small objects) every time, the slices themselves (hundreds:
    listing them costs the S3 server far more) only every `SLICES_EVERY_S`, for progress inside
    a range. A slice whose range has ended is fetched at once, or made here if it is not there
    (it failed in its task)."""

    def __init__(
        self,
        store: ObjectStore,
        own: S3Uri,
        size: int,
        stall_s: float,
        poll_s: float,
        stored: set[int],
    ) -> None:
        self._store = store
        self._own = own
        self._size = size
        self._stall_s = stall_s
        self._poll_s = poll_s
        self._stored = stored
        self._ended: set[int] = set()  # first indices of the ranges a task finished
        self._moved = time.monotonic()  # when the folder last showed something new
        self._read = 0.0
        self._slices_read = 0.0
        self._lock = asyncio.Lock()

    async def wait_for(self, index: int) -> bool:
        """True once slice `index` is stored or its range has ended (fetch it; not there: it
        failed in its task, make it here); False when the job has stalled (make it here)."""
        while True:
            first = index - index % self._size
            if index in self._stored or first in self._ended:
                return True
            if time.monotonic() - self._moved > self._stall_s:
                return False
            await self._refresh()
            if index not in self._stored and first not in self._ended:
                await asyncio.sleep(self._poll_s)

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._read < self._poll_s:
                return  # another waiter just read it
            ended = _numbers(await self._store.list_ours(tasks_prefix(self._own)), "")
            slices: set[int] = set()
            if time.monotonic() - self._slices_read >= SLICES_EVERY_S:
                listed = await self._store.list_ours(self._own.child("slices/"))
                slices = _numbers(listed, ".dcm")
                self._slices_read = time.monotonic()
            self._read = time.monotonic()
            if not (slices <= self._stored and ended <= self._ended):
                self._moved = self._read
            self._stored |= slices
            self._ended |= ended


def _numbers(objects: list[SourceObject], suffix: str) -> set[int]:
    """The numbers objects are named by (`00012.dcm`, `00064`); other names are ignored."""
    found = set()
    for obj in objects:
        name = obj.key.rsplit("/", 1)[-1].removesuffix(suffix)
        with contextlib.suppress(ValueError):
            found.add(int(name))
    return found
