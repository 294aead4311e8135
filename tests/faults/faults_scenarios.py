"""The fault scenarios: submit jobs, wait until they are mid-way, do one harm (and its repair),
wait until every job ends, and gather the outcome and the timings."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from faults_check import Outcome, outcome_of, wait_projection_ended
from faults_rig import Rig, submit, wait_for
from faults_watch import Watchers

S3_PAUSE_S = 4.0
POSTGRES_DOWN_S = 3.0
Harm = Callable[[Rig], Awaitable[None]]


async def kill_compressor(rig: Rig) -> None:
    rig.kill9("compressor")
    await asyncio.to_thread(rig.start, "compressor")


async def kill_progress(rig: Rig) -> None:
    rig.kill9("progress")
    await asyncio.to_thread(rig.start, "progress")


async def kill_notifier(rig: Rig) -> None:
    """Every subscriber loses its connection; the new notifier listens where the old one did."""
    port = rig.services["notifier"].port
    rig.kill9("notifier")
    await asyncio.to_thread(rig.start, "notifier", {"NOTIFIER_PORT": str(port)})


async def restart_kafka(rig: Rig) -> None:
    await asyncio.to_thread(rig.own_backends.restart_kafka)


async def crash_kafka(rig: Rig) -> None:
    await asyncio.to_thread(rig.own_backends.crash_kafka)


async def crash_postgres(rig: Rig) -> None:
    await asyncio.to_thread(rig.own_backends.crash_postgres)


async def restart_postgres(rig: Rig) -> None:
    backends = rig.own_backends
    await asyncio.to_thread(backends.stop_postgres)
    try:
        await asyncio.sleep(POSTGRES_DOWN_S)  # the outage itself: no database for this long
    finally:
        await asyncio.to_thread(backends.start_postgres)


async def pause_s3(rig: Rig) -> None:
    backends = rig.own_backends
    backends.pause_s3()
    try:
        await asyncio.sleep(S3_PAUSE_S)  # the outage itself: S3 does not answer for this long
    finally:
        backends.resume_s3()


async def restart_s3(rig: Rig) -> None:
    """The objects are on disk, so a stopped S3 comes back with them (and with the ZIPs'
    pending multipart uploads)."""
    await asyncio.to_thread(rig.own_backends.restart_s3)


SCENARIOS: dict[str, tuple[str, Harm]] = {
    "compressor-kill9": (
        "SIGKILL the compressor (and its encoders), start a new one",
        kill_compressor,
    ),
    "progress-kill9": ("SIGKILL the progress worker, start a new one", kill_progress),
    "notifier-kill9": (
        "SIGKILL the notifier (every WebSocket drops), start a new one on its port",
        kill_notifier,
    ),
    "kafka-restart": ("stop the broker (SIGTERM), start it on the same log dir", restart_kafka),
    "kafka-kill9": (
        "SIGKILL the broker, start it on the same log dir (recovery from its log)",
        crash_kafka,
    ),
    "postgres-kill9": (
        "SIGKILL the postmaster and its backends, start the same cluster (WAL replay)",
        crash_postgres,
    ),
    "postgres-restart": (
        f"pg_ctl stop -m fast, {POSTGRES_DOWN_S:g} s down, start the same cluster",
        restart_postgres,
    ),
    "s3-pause": (f"SIGSTOP the S3 server for {S3_PAUSE_S:g} s, then SIGCONT", pause_s3),
    "s3-restart": ("stop the S3 server (SIGTERM), start it on the same data dir", restart_s3),
}


# Run by bench_faults only, not in `make test` (the suite's time): the broker's clean restart,
# whose crash (kafka-kill9, a harsher harm on the same recovery path) the tests do run.
BENCH_ONLY = frozenset({"kafka-restart"})


async def no_harm(rig: Rig) -> None:
    """The reference run: the same jobs, nothing harmed."""


BASELINE = ("nothing harmed (reference timings)", no_harm)


@dataclass(frozen=True)
class FaultRun:
    scenario: str
    what: str
    jobs: int
    slices: int
    harm_at_s: float  # after the first submission
    slices_before: int  # slice events the subscribers had when the harm began
    harm_s: float  # how long the harm and its repair took (the part was away this long)
    first_event_after_s: float | None  # from the repair to the next event a subscriber got
    all_ended_s: float  # from the harm until the projection showed every job ended
    services_died: list[str]
    outcome: Outcome

    def problems(self) -> list[str]:
        found = self.outcome.problems(self.slices)
        if self.services_died:
            found.append(f"services died: {self.services_died}")
        return found

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "outcome"}
        return data | {"outcome": self.outcome.as_dict(), "problems": self.problems()}


async def run_fault(
    rig: Rig, scenario: str, jobs: int, timeout_s: float = 120.0, mid_slices: int = 3
) -> FaultRun:
    """Submit `jobs` jobs, harm the stack as `scenario` says once `mid_slices` slices are out,
    and wait until every job has ended and every subscriber has its terminal event.
    `scenario` 'baseline' harms nothing, for reference timings."""
    what, harm = BASELINE if scenario == "baseline" else SCENARIOS[scenario]
    began = time.monotonic()
    job_ids = await submit(rig, jobs)
    watchers = Watchers(rig.services["notifier"].ws_url, rig.token, job_ids)
    try:
        await wait_for(lambda: watchers.slices_seen() >= mid_slices, "jobs mid-way", timeout_s)
        harm_at, slices_before = time.monotonic(), watchers.slices_seen()
        await harm(rig)
        repaired = time.monotonic()
        await wait_for(watchers.all_done, "every subscriber's terminal event", timeout_s)
        await wait_projection_ended(rig, job_ids, timeout_s)
        ended = time.monotonic()
        outcome = await outcome_of(rig, job_ids, watchers)
    finally:
        await watchers.close()
    first = watchers.first_arrival_after(repaired)
    return FaultRun(
        scenario=scenario,
        what=what,
        jobs=jobs,
        slices=rig.slices,
        harm_at_s=round(harm_at - began, 2),
        slices_before=slices_before,
        harm_s=round(repaired - harm_at, 2),
        first_event_after_s=None if first is None else round(first - repaired, 2),
        all_ended_s=round(ended - harm_at, 2),
        services_died=rig.dead(),
        outcome=outcome,
    )
