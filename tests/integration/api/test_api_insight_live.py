"""GET /queue and GET /compress-dicom/benchmark over rows the real projection wrote: the events
are folded by the progress service's own store into the real Postgres schema."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from api_live import bearer

from dicompress_api.settings import ApiSettings
from dicompress_progress.delivery import Origin
from dicompress_progress.store import Delivered, ProjectionStore
from dicompress_schemas import Event
from dicompress_schemas.histories import JobHistory

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class Jobs:
    """Writes jobs' events through the progress service's store, as its worker would."""

    def __init__(self, store: ProjectionStore) -> None:
        self._store = store
        self._histories: dict[uuid.UUID, JobHistory] = {}

    async def record(self, *events: Event) -> None:
        await self._store.record([Delivered(event) for event in events])

    async def requested(
        self,
        tenant: str,
        at: datetime,
        rate: float | None = 10,
        codec: str = "j2k-lossy",
        topic: str | None = None,
    ) -> uuid.UUID:
        """A job asked for `at` (read from `topic`: its lane); its later events happen then
        too unless told otherwise."""
        history = JobHistory(tenant=tenant, start=at, step=timedelta(0))
        self._histories[history.job_id] = history
        origin = None if topic is None else Origin(topic, 0, 0)
        await self._store.record([Delivered(history.requested(rate, codec=codec), origin)])
        return history.job_id

    async def started(self, job: uuid.UUID, total: int) -> None:
        await self.record(self._histories[job].started(total))

    async def finished(
        self,
        tenant: str,
        at: datetime,
        *,
        wall_s: float,
        psnrs: list[float | None],
        ratio: float,
        rate: float | None = 10,
        codec: str = "j2k-lossy",
    ) -> uuid.UUID:
        """A job started at `at` whose slices (100 -> 10 bytes each) come a second later."""
        job = await self.requested(tenant, at, rate, codec)
        await self.started(job, len(psnrs))
        history = self._histories[job]
        slices = [
            history.encoded(
                i,
                at=at + timedelta(seconds=1),
                bytes_in=100,
                bytes_out=10,
                ratio=ratio,
                psnr_db=psnr,
                max_error_hu=None if psnr is None else 100 - psnr,
            )
            for i, psnr in enumerate(psnrs)
        ]
        done = history.completed(
            at=at + timedelta(seconds=wall_s), ratio=ratio, wall_ms=wall_s * 1000
        )  # n slices, 100 n bytes in, 10 n out
        await self.record(*slices, done)
        return job


@pytest.fixture
async def jobs(database: asyncpg.Connection[Any], test_env: dict[str, str]) -> Any:
    pool = await asyncpg.create_pool(test_env["DATABASE_URL"], min_size=1, max_size=2)
    yield Jobs(ProjectionStore(pool, notify_channel=None))
    await pool.close()


def seconds(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


async def test_queue_shows_places_and_estimates_from_recent_throughput(
    api: httpx.AsyncClient, settings: ApiSettings, jobs: Jobs
) -> None:
    # Two finished jobs: 4 slices in 10 s and 4 in 30 s -> 0.2 slices/s, 20 s per job.
    await jobs.finished("globex", T0, wall_s=10, psnrs=[40.0] * 4, ratio=10)
    await jobs.finished("globex", T0, wall_s=30, psnrs=[40.0] * 4, ratio=10)
    running = await jobs.requested("globex", T0 + timedelta(minutes=1))
    await jobs.started(running, 8)
    mine_first = await jobs.requested("acme", T0 + timedelta(minutes=2))
    await jobs.requested("globex", T0 + timedelta(minutes=3))
    mine_last = await jobs.requested("acme", T0 + timedelta(minutes=4))

    asked_at = datetime.now(UTC).isoformat()
    answer = await api.get("/queue", headers=bearer(settings, "acme"))
    assert answer.status_code == 200, answer.text
    queue = answer.json()
    assert (queue["queued"], queue["running"]) == (3, 1)
    assert queue["throughput"] == {
        "basedOnJobs": 2,
        "slicesPerSecond": pytest.approx(0.2),
        "meanJobSeconds": pytest.approx(20.0),
    }
    first, last = queue["jobs"]  # only the caller's jobs, oldest first
    assert (first["jobId"], first["position"]) == (str(mine_first), 1)
    assert (last["jobId"], last["position"]) == (str(mine_last), 3)
    # One slot: the running job has 8 slices left at 0.2/s (40 s), then 20 s per job.
    assert seconds(first["estimatedStartAt"], first["estimatedFinishAt"]) == pytest.approx(20)
    assert seconds(first["estimatedStartAt"], last["estimatedStartAt"]) == pytest.approx(40)
    assert seconds(asked_at, first["estimatedStartAt"]) == pytest.approx(40, abs=5)

    theirs = (await api.get("/queue", headers=bearer(settings, "globex"))).json()["jobs"]
    assert [(j["status"], j["position"]) for j in theirs] == [("running", None), ("queued", 2)]


async def test_benchmark_summarises_the_tenants_completed_jobs_by_codec_and_rate(
    api: httpx.AsyncClient, settings: ApiSettings, jobs: Jobs
) -> None:
    await jobs.finished("acme", T0, wall_s=2, psnrs=[40.0, 44.0], ratio=9)
    await jobs.finished("acme", T0, wall_s=6, psnrs=[46.0, 46.0], ratio=11)
    await jobs.finished("acme", T0, wall_s=4, psnrs=[38.0], ratio=19, rate=20)
    await jobs.finished(
        "acme", T0, wall_s=1, psnrs=[None], ratio=2.5, rate=None, codec="j2k-lossless"
    )
    await jobs.finished("globex", T0, wall_s=100, psnrs=[10.0], ratio=9)  # not acme's
    await jobs.requested("acme", T0)  # not finished

    answer = await api.get("/compress-dicom/benchmark", headers=bearer(settings, "acme"))
    assert answer.status_code == 200, answer.text
    groups = {(g["codec"], g["compressionRate"]): g for g in answer.json()["groups"]}
    assert set(groups) == {("j2k-lossless", None), ("j2k-lossy", 10.0), ("j2k-lossy", 20.0)}
    rate10 = groups[("j2k-lossy", 10.0)]
    assert (rate10["jobs"], rate10["slices"]) == (2, 4)
    assert rate10["meanRatio"] == pytest.approx(10)
    assert rate10["meanProcessingMs"] == pytest.approx(4000)
    assert rate10["p50ProcessingMs"] == pytest.approx(4000)
    assert rate10["slicesPerSecond"] == pytest.approx(4 / 8)
    assert rate10["meanPsnrDb"] == pytest.approx((42 + 46) / 2)  # the mean of the jobs' means
    assert rate10["maxErrorHu"] == pytest.approx(100 - 40)  # the worst slice of any job
    assert groups[("j2k-lossy", 20.0)]["meanPsnrDb"] == pytest.approx(38)
    lossless = groups[("j2k-lossless", None)]
    assert (lossless["jobs"], lossless["meanPsnrDb"], lossless["meanRatio"]) == (1, None, 2.5)
    assert (await api.get("/compress-dicom/benchmark")).status_code == 401


async def test_an_interactive_job_has_its_own_place_and_start_in_its_lane(
    api: httpx.AsyncClient, settings: ApiSettings, jobs: Jobs
) -> None:
    topics = settings.topics
    await jobs.finished("globex", T0, wall_s=10, psnrs=[40.0] * 4, ratio=10)
    running = await jobs.requested("globex", T0 + timedelta(minutes=1), topic=topics.requests)
    await jobs.started(running, 8)
    for minute in (2, 3):
        await jobs.requested("globex", T0 + timedelta(minutes=minute), topic=topics.requests)
    chair = await jobs.requested("acme", T0 + timedelta(minutes=4), topic=topics.interactive)
    batch = await jobs.requested("acme", T0 + timedelta(minutes=5), topic=topics.requests)

    asked_at = datetime.now(UTC).isoformat()
    mine = (await api.get("/queue", headers=bearer(settings, "acme"))).json()["jobs"]
    assert [(j["jobId"], j["lane"], j["position"]) for j in mine] == [
        (str(chair), "interactive", 1),  # asked for after three batch jobs, first in its lane
        (str(batch), "batch", 3),
    ]
    assert seconds(asked_at, mine[0]["estimatedStartAt"]) == pytest.approx(0, abs=5)
    assert seconds(mine[0]["estimatedStartAt"], mine[1]["estimatedStartAt"]) > 20
