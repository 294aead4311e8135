"""Faults mid-job on a whole stack (four service processes, real Kafka, Postgres and S3 of the
module's own): a compressor, the progress worker or the notifier killed with SIGKILL and started
again, the broker SIGKILLed and started on its log dir (recovery from its log; its clean restart
runs in bench_faults only, for the suite's time),
Postgres stopped for 3 s (and SIGKILLed: WAL replay), S3 frozen for 4 s and S3 restarted on its
data dir. After each,
every job ends completed (or failed with a reason), each ZIP holds every slice exactly once,
the projection equals a replay of the log, and each job's WebSocket subscriber (reconnecting
with since_seq when dropped) got its terminal event.

And a study uploaded while the services that make its products are killed with SIGKILL, each
while at work, and started again (faults_study): the ingest, the products process manager, the
renderer. The ingest completes, the study index is whole, every product completes with each of
its images once, and the projection equals a replay of the log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from faults_rig import Rig
from faults_scenarios import BENCH_ONLY, SCENARIOS, run_fault
from faults_study import run_study_faults

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

log = logging.getLogger(__name__)
JOBS = 3


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s not in BENCH_ONLY])
async def test_every_job_survives_the_fault(rig: Rig, scenario: str) -> None:
    run = await run_fault(rig, scenario, JOBS)

    log.warning("%s: %s", scenario, run.as_dict())
    assert run.slices_before < JOBS * rig.slices  # the harm came mid-way
    assert run.problems() == [], rig.log_tails()
    assert [job.status for job in run.outcome.jobs] == ["completed"] * JOBS
    if scenario == "notifier-kill9":  # the subscribers really were cut off, and came back
        assert all(job.ws_reconnects >= 1 for job in run.outcome.jobs)


@pytest.mark.timeout(300)  # three restarts, each waiting out the dead member's session
async def test_a_study_survives_its_services_killed_mid_way(rig: Rig, tmp_path: Path) -> None:
    run = await run_study_faults(rig, tmp_path)

    log.warning("study: %s", run.as_dict())
    assert [kill.role for kill in run.kills] == ["ingest", "products", "renderer"]
    # each harm came before the work it cut short had ended (the log, read with it frozen)
    assert all(kill.mid for kill in run.kills), run.kills
    assert run.problems() == [], rig.log_tails()
