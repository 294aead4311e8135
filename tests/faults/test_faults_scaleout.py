"""Scale-out on one machine: compressor processes in one consumer group share the requests
topic's partitions; a third joining and one leaving (SIGTERM) while jobs run rebalance them; no
job is lost or doubled: every job completes, each ZIP holds every slice exactly once, the
projection equals a replay of the log, every WebSocket subscriber gets its terminal event."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from faults_check import outcome_of, wait_projection_ended
from faults_group import group_assignment, spread
from faults_rig import Rig, service_env, submit, upload_series, wait_for
from faults_watch import Watchers

from dicompress_schemas import Topics
from dicompress_stack.testing import TestBackends

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SLICES = 20
JOBS = 4  # per wave; two waves
TIMEOUT_S = 90.0


async def test_compressors_join_and_leave_while_jobs_run_without_losing_a_job(
    backends: TestBackends, tmp_path_factory: pytest.TempPathFactory
) -> None:
    env = service_env(backends, compressor_processes=1)
    await asyncio.to_thread(upload_series, env, SLICES)
    rig = Rig(None, env, tmp_path_factory.mktemp("scaleout"), SLICES)
    topic = Topics(prefix=env["TOPIC_PREFIX"])
    partitions = dict(topic.layout())[topic.requests]

    async def spread_over(members: int) -> dict[str, set[int]] | None:
        held = await group_assignment(
            env["KAFKA_BOOTSTRAP_SERVERS"], env["COMPRESSOR_GROUP_ID"], topic.requests
        )
        return held if spread(held, members, partitions) else None

    watchers: Watchers | None = None
    try:
        await rig.start_all("compressor-2")
        two = await wait_for(lambda: spread_over(2), "2 compressors sharing", TIMEOUT_S)

        job_ids = await submit(rig, JOBS)
        watchers = Watchers(rig.services["notifier"].ws_url, rig.token, job_ids)
        await wait_for(lambda: watchers.slices_seen() >= 3, "jobs mid-way", TIMEOUT_S)
        await asyncio.to_thread(rig.start, "compressor-3")
        three = await wait_for(lambda: spread_over(3), "3 compressors sharing", TIMEOUT_S)

        # a second wave, so jobs are surely in flight on every member when one leaves
        wave = await submit(rig, JOBS)
        job_ids += wave
        watchers.watch(wave)
        busy = watchers.slices_seen()
        await wait_for(lambda: watchers.slices_seen() >= busy + 3, "work after", TIMEOUT_S)
        assert not watchers.all_done(), "the jobs ended before a compressor could leave"
        await asyncio.to_thread(rig.stop, "compressor")  # mid-job: it leaves its group
        back_to_two = await wait_for(lambda: spread_over(2), "2 left sharing", TIMEOUT_S)

        await wait_for(watchers.all_done, "every subscriber's terminal event", TIMEOUT_S)
        await wait_projection_ended(rig, job_ids, TIMEOUT_S)
        outcome = await outcome_of(rig, job_ids, watchers)
        workers = _workers(watchers)
    finally:
        if watchers is not None:
            await watchers.close()
        rig.stop_all()

    assert [len(p) for p in two.values()] == [2, 2]
    assert sorted(len(p) for p in three.values()) == [1, 1, 2]
    assert set(back_to_two) <= set(three)  # the two that stayed, rebalanced
    assert outcome.problems(SLICES) == []
    assert [job.status for job in outcome.jobs] == ["completed"] * 2 * JOBS
    assert len(workers) >= 2, workers  # the jobs really were shared


def _workers(watchers: Watchers) -> set[Any]:
    """The compressors that started a job (JobStarted.worker), over every job's events."""
    return {
        event["worker"]
        for watcher in watchers.by_job.values()
        for event in watcher.events.values()
        if event["type"] == "JobStarted"
    }
