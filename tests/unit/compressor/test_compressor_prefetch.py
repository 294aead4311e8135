"""The next job's source is laid out while the current one runs (`JobRunner.layouts`): the job then
starts without its header pass, with the same result; a source it may not read is never read,
and a layout that failed ahead is made again by the job itself."""

from __future__ import annotations

import asyncio

from compressor_fakes import TIMEOUT_S, GatedEncoder, MemoryStore, request, runner

from dicompress_compressor.job import JobRunner
from dicompress_schemas import CompressionRequested, EventBase, JobCompleted, SliceEncoded


def _store() -> MemoryStore:
    return MemoryStore({"src/IM10.dcm": b"c", "src/IM2.dcm": b"b", "src/IM1.dcm": b"a"})


SOURCES = ["src/IM1.dcm", "src/IM10.dcm", "src/IM2.dcm"]


def _reads(store: MemoryStore) -> list[str]:
    """The keys read, sorted (objects this small are read whole for their header too)."""
    return sorted(key for key, _ in store.gets)


async def _laid_out_ahead(
    job_runner: JobRunner, req: CompressionRequested, store: MemoryStore
) -> None:
    job_runner.anticipate(req)
    for _ in range(100):  # the layout runs in a task of its own, parsing in threads
        if len(store.gets) >= len(SOURCES):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)


async def test_a_job_laid_out_ahead_starts_without_its_header_pass_and_ends_the_same() -> None:
    store, sink = _store(), list[EventBase]()
    job_runner = runner(store, GatedEncoder(), sink)
    req = request()

    await _laid_out_ahead(job_runner, req, store)
    assert _reads(store) == SOURCES  # each header, ahead
    store.gets.clear()
    terminal = await asyncio.wait_for(job_runner.run(req), TIMEOUT_S)

    assert _reads(store) == SOURCES  # each slice once, to encode it: no header pass
    assert isinstance(terminal, JobCompleted)
    assert terminal.slices_encoded == 3
    slices = [e for e in sink if isinstance(e, SliceEncoded)]
    assert [s.source_key for s in slices] == ["src/IM1.dcm", "src/IM2.dcm", "src/IM10.dcm"]

    again = await asyncio.wait_for(runner(_store(), GatedEncoder(), []).run(request()), TIMEOUT_S)
    assert isinstance(again, JobCompleted)
    assert (again.slices_encoded, again.bytes_in, again.bytes_out) == (
        terminal.slices_encoded,
        terminal.bytes_in,
        terminal.bytes_out,
    )  # as a job with no layout ahead


async def test_a_source_in_a_bucket_not_allowed_is_not_read_ahead() -> None:
    store = _store()
    job_runner = runner(store, GatedEncoder(), [], allowed_buckets=frozenset({"other"}))
    await _laid_out_ahead(job_runner, request(), store)
    assert store.gets == []


async def test_a_layout_that_failed_ahead_is_made_by_the_job_itself() -> None:
    store, sink = _store(), list[EventBase]()
    job_runner = runner(store, GatedEncoder(), sink)
    req = request()
    store.fail_listing = ConnectionError("S3 went away for a moment")
    await _laid_out_ahead(job_runner, req, store)
    assert store.gets == []  # the listing failed
    store.fail_listing = None

    terminal = await asyncio.wait_for(job_runner.run(req), TIMEOUT_S)
    assert isinstance(terminal, JobCompleted)
    assert terminal.slices_encoded == 3
    assert _reads(store) == sorted(SOURCES * 2)  # its own header pass, then the encoding
