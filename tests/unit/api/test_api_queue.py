"""Queue places and start/finish estimates from recent throughput (pure)."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from dicompress_api.jobs.queue import Throughput, estimate, estimate_lanes
from dicompress_schemas import Lane, Topics

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
PACE = Throughput(jobs=5, slices_per_s=10.0, mean_job_s=60.0)


def row(status: str, minute: int, **fields: Any) -> dict[str, Any]:
    return {
        "job_id": uuid.uuid4(),
        "tenant": "acme",
        "status": status,
        "requested_at": NOW - timedelta(minutes=minute),
        **fields,
    }


def test_queued_jobs_start_when_the_slot_frees_and_run_the_mean_time() -> None:
    running = row("running", 9, slices_total=100, slices_done=40, slices_failed=10)
    rows = [running, row("queued", 5), row("queued", 3)]
    first_run, q1, q2 = estimate(rows, NOW, PACE, parallelism=1)
    assert (first_run.position, first_run.estimated_finish_at) == (None, NOW + timedelta(seconds=5))
    assert q1.position == 1
    assert q1.estimated_start_at == NOW + timedelta(seconds=5)
    assert q1.estimated_finish_at == NOW + timedelta(seconds=65)
    assert q2.position == 2
    assert q2.estimated_start_at == NOW + timedelta(seconds=65)


def test_two_slots_start_two_queued_jobs_now_and_the_eta_wins_for_running() -> None:
    eta = NOW + timedelta(seconds=30)
    rows = [row("running", 9, eta_at=eta), row("queued", 5), row("queued", 4), row("queued", 3)]
    run, q1, q2, q3 = estimate(rows, NOW, PACE, parallelism=2)
    assert run.estimated_finish_at == eta
    assert q1.estimated_start_at == NOW  # the free slot
    assert q2.estimated_start_at == eta  # when the running job ends
    assert q3.estimated_start_at == NOW + timedelta(seconds=60)
    assert [q.position for q in (q1, q2, q3)] == [1, 2, 3]


def test_without_finished_jobs_there_are_places_but_no_estimates() -> None:
    rows = [row("running", 9, slices_total=10), row("queued", 5)]
    run, queued = estimate(rows, NOW, Throughput(0, None, None), parallelism=1)
    assert run.estimated_finish_at is None
    assert (queued.position, queued.estimated_start_at, queued.estimated_finish_at) == (
        1,
        None,
        None,
    )


def test_each_lane_has_its_own_places_and_slots() -> None:
    topics = Topics()
    batch = [row("running", 9, eta_at=NOW + timedelta(seconds=30), topic=topics.requests)]
    batch += [row("queued", 8 - i, topic=topics.requests) for i in range(3)]
    chair = row("queued", 1, topic=topics.interactive)  # asked for last
    rendered = row("queued", 2, topic=topics.render_requests)
    rows = [*batch, rendered, chair]
    entries = estimate_lanes(rows, NOW, PACE, 1, topics)
    assert [e.job_id for e in entries] == [r["job_id"] for r in rows]
    by_id = {e.job_id: e for e in entries}
    assert [by_id[r["job_id"]].position for r in batch[1:]] == [1, 2, 3]
    assert by_id[batch[3]["job_id"]].estimated_start_at == NOW + timedelta(seconds=150)
    # the interactive job is first in its lane and starts now, not after the batch
    first = by_id[chair["job_id"]]
    assert (first.lane, first.position, first.estimated_start_at) == (Lane.INTERACTIVE, 1, NOW)
    assert by_id[rendered["job_id"]].lane is None
    assert by_id[rendered["job_id"]].position == 1
