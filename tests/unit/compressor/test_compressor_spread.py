"""A job spread over the group, with in-memory adapters: the tasks make the slices, the owner
assembles them once and in order; a failed slice, a lost task or a cancel never costs a slice."""

from __future__ import annotations

import asyncio
import io
import zipfile

import orjson
from compressor_fakes import TIMEOUT_S, GatedEncoder, MemoryStore, request, runner

from dicompress_compressor.cancellation import CancelRegistry
from dicompress_compressor.split import Splitter
from dicompress_compressor.task_runner import TaskRunner
from dicompress_schemas import (
    EventBase,
    JobCompleted,
    Lane,
    SliceEncoded,
    SliceFailed,
    new_event_id,
)
from dicompress_schemas.tasks import SliceRangeRequested, TaskSlice, task_id

SLICES = 10


def _store(bad: frozenset[int] = frozenset()) -> MemoryStore:
    return MemoryStore(
        {f"src/IM{i:03d}.dcm": b"bad" if i in bad else f"s{i}".encode() for i in range(SLICES)}
    )


class Group:
    """The other workers: each published task runs at once on their own encoder, unless
    `lose` says the task is lost with its worker."""

    def __init__(self, store: MemoryStore, lose: frozenset[int] = frozenset()) -> None:
        self.encoder = GatedEncoder()
        self.cancellations = CancelRegistry()
        self.runner = TaskRunner(store, self.encoder, "w-2", 4, self.cancellations)
        self.published: list[SliceRangeRequested] = []
        self.running: list[asyncio.Task[None]] = []
        self.lose = lose

    async def publish(self, task: SliceRangeRequested, ordinal: int) -> None:
        assert ordinal == len(self.published)  # the job's ranges in order: 0, 1, 2...
        self.published.append(task)
        if task.slices[0].index not in self.lose:
            self.running.append(asyncio.create_task(self.runner.run(task)))


async def _run(
    store: MemoryStore, group: Group, stall_s: float = 5.0, alone: bool = False
) -> tuple[list[EventBase], GatedEncoder]:
    """The job's events, and the owner's encoder (what it had to make itself); `alone`: the
    owner holds every partition of its lane's tasks topic."""
    sink: list[EventBase] = []
    asked: list[Lane] = []

    def shared(lane: Lane) -> bool:
        asked.append(lane)
        return not alone

    splitter = Splitter(
        group.publish, threshold=8, size=4, stall_s=stall_s, poll_s=0.01, shared=shared
    )
    owner = GatedEncoder()
    terminal = await asyncio.wait_for(
        runner(store, owner, sink, splitter=splitter).run(request()), TIMEOUT_S
    )
    await asyncio.gather(*group.running)
    assert terminal is sink[-1]
    assert asked == [Lane.BATCH]  # asked once, for the job's own lane
    return sink, owner


def _zip_entries(store: MemoryStore, completed: JobCompleted) -> list[bytes]:
    data = store.objects[completed.artifact_uri.removeprefix("s3://bucket/")][0]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert names[-1] == "manifest.json"
        assert len(set(names)) == len(names)  # each entry once
        return [archive.read(name) for name in names[:-1]]


async def test_the_tasks_make_the_slices_and_the_owner_assembles_them_once_in_order() -> None:
    store = _store()
    group = Group(store)
    events, owner = await _run(store, group)
    req_id = events[0].job_id

    assert [len(t.slices) for t in group.published] == [4, 4, 2]
    assert [t.task_id for t in group.published] == [task_id(req_id, i) for i in (0, 4, 8)]
    assert {t.lane for t in group.published} == {Lane.BATCH}  # a test runs in no loop's lane
    assert group.encoder.calls == SLICES
    assert owner.calls == 0  # every slice came from a task
    assert [e.seq for e in events] == list(range(1, SLICES + 3))  # in order, no gap
    assert all(e.event_id == new_event_id(req_id, e.seq) for e in events)
    completed = events[-1]
    assert isinstance(completed, JobCompleted)
    assert completed.slices_encoded == SLICES
    assert completed.encode_ms == 2.0 * SLICES  # the tasks' encoding is this run's
    assert _zip_entries(store, completed) == [f"enc:s{i}".encode() for i in range(SLICES)]
    markers = store.keys(f"acme/jobs/{req_id}/tasks/")
    assert [m.rsplit("/", 1)[1] for m in markers] == ["00000", "00004", "00008"]
    assert orjson.loads(store.objects[markers[0]][0]) == {
        "worker": "w-2",
        "encoded": 4,
        "failed": 0,
    }


async def test_a_compressor_alone_in_its_tasks_group_makes_the_job_itself() -> None:
    store = _store()
    group = Group(store)
    events, owner = await _run(store, group, alone=True)

    assert group.published == []  # nothing another compressor could take
    assert owner.calls == SLICES
    assert store.keys(f"acme/jobs/{events[0].job_id}/tasks/") == []
    completed = events[-1]
    assert isinstance(completed, JobCompleted)
    assert completed.slices_encoded == SLICES
    assert _zip_entries(store, completed) == [f"enc:s{i}".encode() for i in range(SLICES)]


async def test_a_slice_that_failed_in_its_task_is_made_again_by_the_owner_with_its_reason() -> None:
    store = _store(bad=frozenset({5}))
    group = Group(store)
    events, owner = await _run(store, group)
    failed = [e for e in events if isinstance(e, SliceFailed)]
    assert [(e.slice_index, e.error_code) for e in failed] == [(5, "unsupported")]
    assert owner.calls == 1  # that one slice only
    completed = events[-1]
    assert isinstance(completed, JobCompleted)
    assert (completed.slices_encoded, completed.slices_failed) == (SLICES - 1, 1)


async def test_a_lost_task_is_made_by_the_owner_once_nothing_moves() -> None:
    store = _store()
    group = Group(store, lose=frozenset({4}))  # its worker died with it, and no one took it over
    events, owner = await _run(store, group, stall_s=0.2)
    assert owner.calls == 4  # the lost range, after the stall
    encoded = [e for e in events if isinstance(e, SliceEncoded)]
    assert [e.slice_index for e in encoded] == list(range(SLICES))
    completed = events[-1]
    assert isinstance(completed, JobCompleted)
    assert _zip_entries(store, completed) == [f"enc:s{i}".encode() for i in range(SLICES)]


async def test_a_task_of_a_cancelled_job_makes_nothing() -> None:
    store = _store()
    group = Group(store)
    req = request()
    group.cancellations.cancel(req.job_id, "not needed")
    task = SliceRangeRequested(
        task_id=task_id(req.job_id, 0),
        job_id=req.job_id,
        tenant=req.tenant,
        lane=Lane.INTERACTIVE,
        attempt=1,
        request=req,
        slices=[TaskSlice(index=i, key=f"src/IM{i:03d}.dcm", size=2) for i in range(4)],
    )
    await group.runner.run(task)
    assert group.encoder.calls == 0
    assert store.keys(f"acme/jobs/{req.job_id}/") == []
