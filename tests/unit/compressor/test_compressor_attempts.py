"""A re-run that ends earlier than its crashed first run had got: its JobFailed or JobCancelled
goes past every seq the first run may have used (the contract's attempts rule), so readers,
which keep the first event of each seq, see the job end instead of dropping its end."""

from __future__ import annotations

from compressor_fakes import (
    GatedEncoder,
    MemoryStore,
    killed_after_three_slices,
    projected,
    request,
    runner,
)

from dicompress_compressor.cancellation import CancelRegistry
from dicompress_schemas import (
    CompressionRequested,
    EventBase,
    JobCancelled,
    JobCompleted,
    JobFailed,
    new_event_id,
)
from dicompress_schemas.attempts import AttemptMarker, decode_marker, encode_marker
from dicompress_schemas.jobs import Status

SLICES = 6


def _sources() -> dict[str, bytes]:
    return {f"src/{i}.dcm": bytes([65 + i]) for i in range(SLICES)}


def _markers(store: MemoryStore, req: CompressionRequested) -> list[AttemptMarker]:
    folder = f"{req.tenant}/jobs/{req.job_id}/attempts/"
    return [decode_marker(store.objects[key][0]) for key in store.keys(folder)]


async def test_a_rerun_that_finds_its_source_gone_fails_past_the_dead_runs_seqs() -> None:
    store, req = MemoryStore(_sources()), request()
    first = await killed_after_three_slices(store, req)
    assert _markers(store, req) == [AttemptMarker("w-1", SLICES + 2)]  # recorded before seq 1
    for key in _sources():
        del store.objects[key]  # the source was deleted meanwhile

    second: list[EventBase] = []
    terminal = await runner(store, GatedEncoder(), second).run(req)

    assert isinstance(terminal, JobFailed)
    assert terminal.error_code == "source-empty"
    # JobStarted (seq 1) again, then the failure past 2+6, the dead run's ceiling
    assert [(e.type, e.seq) for e in second] == [("JobStarted", 1), ("JobFailed", SLICES + 3)]
    assert terminal.seq > max(e.seq for e in first)
    assert (terminal.attempt, terminal.event_id) == (2, new_event_id(req.job_id, terminal.seq))
    view = projected(first + second)
    assert view is not None
    assert (view.status, view.error_code) == (Status.FAILED, "source-empty")
    # what the same failure without the rule became: a JobFailed at seq 2, the seq of the
    # dead run's first slice, which every reader drops, and the job stays running for ever
    without = projected([*first, terminal.model_copy(update={"seq": 2})])
    assert without is not None
    assert without.status is Status.RUNNING


async def test_a_rerun_cancelled_before_it_starts_cancels_past_the_dead_runs_seqs() -> None:
    store, req = MemoryStore(_sources()), request()
    first = await killed_after_three_slices(store, req)
    registry = CancelRegistry()
    registry.cancel(req.job_id, "stuck after a crash")  # before the redelivery is picked up

    second: list[EventBase] = []
    encoder = GatedEncoder()
    terminal = await runner(store, encoder, second, cancellations=registry).run(req)

    assert isinstance(terminal, JobCancelled)
    assert second == [terminal]
    assert terminal.seq == SLICES + 3
    assert encoder.calls == 0
    view = projected(first + second)
    assert view is not None
    assert view.status is Status.CANCELLED


async def test_a_rerun_that_completes_keeps_its_completion_seq() -> None:
    store, req = MemoryStore(_sources()), request()
    await killed_after_three_slices(store, req)
    second: list[EventBase] = []
    terminal = await runner(store, GatedEncoder(), second).run(req)
    assert isinstance(terminal, JobCompleted)
    assert terminal.seq == SLICES + 2  # the natural end's seq, whatever the floor
    assert [m.ceiling for m in _markers(store, req)] == [SLICES + 2, SLICES + 2]


async def test_a_marker_from_before_the_rule_raises_no_floor() -> None:
    store, req = MemoryStore({"src/0.dcm": b"A"}), request()
    store.objects[f"{req.tenant}/jobs/{req.job_id}/attempts/1"] = (b"old-worker", {})
    store.fail_gets["src/0.dcm"] = OSError("S3 is down")
    sink: list[EventBase] = []
    terminal = await runner(store, GatedEncoder(), sink).run(req)
    assert isinstance(terminal, JobFailed)
    assert (terminal.error_code, terminal.seq, terminal.attempt) == ("source-unreadable", 1, 2)
    marker = store.objects[f"{req.tenant}/jobs/{req.job_id}/attempts/2"][0]
    assert marker == encode_marker(AttemptMarker("w-1"))  # registered; no ceiling reached
