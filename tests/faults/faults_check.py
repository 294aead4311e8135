"""What must hold after a fault: every job ended (completed, or failed with a reason), each ZIP
is whole and holds every slice exactly once, the projection equals a replay of the log, and the
WebSocket subscriber of each job got its terminal event."""

from __future__ import annotations

import asyncio
import io
import zipfile
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg
from faults_rig import Rig, wait_for
from faults_watch import Watchers

from dicompress_progress.replay import check
from dicompress_progress.settings import ProgressSettings
from dicompress_stack.testing import s3_client

ENDED = ("completed", "failed", "cancelled")


@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    status: str
    reason: str | None
    zip_entries: int  # DICOM entries (manifest.json apart)
    zip_duplicates: int
    zip_intact: bool
    ws_terminal: str | None
    ws_duplicates: int
    ws_reconnects: int


@dataclass(frozen=True)
class Outcome:
    jobs: list[JobOutcome]
    replay_equal: bool
    replay_report: str

    def problems(self, slices: int) -> list[str]:
        """Everything that breaks the guarantees, in words; empty when all hold."""
        found = [] if self.replay_equal else [f"projection != replay:\n{self.replay_report}"]
        for job in self.jobs:
            if job.status == "failed" and job.reason:
                continue  # an honest failure with a reason is an allowed end
            if job.status != "completed":
                found.append(f"{job.job_id}: ended {job.status} ({job.reason})")
            elif (job.zip_entries, job.zip_duplicates, job.zip_intact) != (slices, 0, True):
                found.append(f"{job.job_id}: ZIP {job}")
            if job.ws_terminal is None or job.ws_duplicates:
                found.append(f"{job.job_id}: WebSocket {job}")
        return found

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def projection_rows(rig: Rig, job_ids: list[str]) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(rig.env["DATABASE_URL"], timeout=5)
    try:
        return list(
            await conn.fetch(
                "SELECT job_id::text, status, reason, artifact_uri FROM jobs"
                " WHERE job_id = ANY($1::uuid[])",
                job_ids,
            )
        )
    finally:
        await conn.close()


async def wait_projection_ended(rig: Rig, job_ids: list[str], within_s: float) -> None:
    async def ended() -> bool:
        rows = await projection_rows(rig, job_ids)
        return len(rows) == len(job_ids) and all(r["status"] in ENDED for r in rows)

    await wait_for(ended, "the projection to show every job ended", within_s, 0.3)


def inspect_zip(rig: Rig, artifact_uri: str | None) -> tuple[int, int, bool]:
    """(DICOM entries, duplicate entry names, CRCs good and manifest present)."""
    if not artifact_uri:
        return 0, 0, False
    key = artifact_uri.removeprefix(f"s3://{rig.bucket}/")
    body = s3_client(rig.env).get_object(Bucket=rig.bucket, Key=key)["Body"].read()
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = archive.namelist()
        intact = archive.testzip() is None and names[-1:] == ["manifest.json"]
    dicom = [n for n in names if n != "manifest.json"]
    return len(dicom), len(dicom) - len(set(dicom)), intact


async def replay_check(rig: Rig, within_s: float = 30.0) -> tuple[bool, str]:
    """The live projection against a rebuild from the log; retried while the worker catches up
    (the check compares one moment, so a worker still applying the tail shows a difference)."""
    settings = ProgressSettings(**{k.lower(): v for k, v in rig.env.items()})
    last: list[str] = []

    async def equal() -> bool:
        report = await check(settings)
        last[:] = [report.render()]
        return report.equal

    try:
        await wait_for(equal, "the replay to equal the projection", within_s, 1.0)
    except AssertionError:
        return False, last[0] if last else "no report"
    return True, last[0]


async def outcome_of(rig: Rig, job_ids: list[str], watchers: Watchers) -> Outcome:
    rows = {r["job_id"]: r for r in await projection_rows(rig, job_ids)}
    jobs = []
    for job_id in job_ids:
        row = rows[job_id]
        entries, duplicates, intact = await asyncio.to_thread(inspect_zip, rig, row["artifact_uri"])
        watcher = watchers.by_job[job_id]
        terminal = watcher.terminal
        jobs.append(
            JobOutcome(
                job_id=job_id,
                status=row["status"],
                reason=row["reason"],
                zip_entries=entries,
                zip_duplicates=duplicates,
                zip_intact=intact,
                ws_terminal=terminal["type"] if terminal else None,
                ws_duplicates=watcher.duplicates,
                ws_reconnects=watcher.reconnects,
            )
        )
    equal, report = await replay_check(rig)
    return Outcome(jobs, equal, report)
