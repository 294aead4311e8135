"""`GET /queue` (waiting and running jobs, with places and estimates) and
`GET /compress-dicom/benchmark` (the tenant's completed jobs by codec and rate).

Included before the job routes, so `/compress-dicom/benchmark` is not read as a job id.
"""

# No `from __future__ import annotations`: FastAPI must see the closures' real annotations.

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from dicompress_api.jobs.benchmark import BenchmarkSummary, benchmark_group
from dicompress_api.jobs.queue import QueueView, ThroughputView, estimate_lanes
from dicompress_api.ports import Stats
from dicompress_api.settings import ApiSettings
from dicompress_api.web.auth import TenantDependency
from dicompress_api.web.problems import PROBLEM


def insight_router(settings: ApiSettings, stats: Stats, tenant_of: TenantDependency) -> APIRouter:
    """Routes that summarise many jobs rather than show one."""
    router = APIRouter(tags=["jobs"])
    Tenant = Annotated[str, Depends(tenant_of)]
    responses: dict[int | str, dict[str, Any]] = {401: PROBLEM, 429: PROBLEM, 503: PROBLEM}

    @router.get("/queue", response_model=QueueView, responses=responses)
    async def queue(tenant: Tenant) -> QueueView:
        """Counts of queued and running jobs (every tenant's), and the caller's own jobs with
        their lane, their position in it and estimated start and finish (null until jobs have
        finished to learn the pace from)."""
        rows = await stats.queue()
        pace = await stats.throughput(settings.api_throughput_window)
        entries = estimate_lanes(
            rows, datetime.now(UTC), pace, settings.api_queue_parallelism, settings.topics
        )
        mine = {row["job_id"] for row in rows if row["tenant"] == tenant}
        return QueueView(
            queued=sum(1 for row in rows if row["status"] == "queued"),
            running=sum(1 for row in rows if row["status"] == "running"),
            max_queue_length=settings.api_max_queue_length,
            throughput=ThroughputView(
                based_on_jobs=pace.jobs,
                slices_per_second=pace.slices_per_s,
                mean_job_seconds=pace.mean_job_s,
            ),
            jobs=[entry for entry in entries if entry.job_id in mine],
        )

    @router.get(
        "/compress-dicom/benchmark",
        response_model=BenchmarkSummary,
        responses=responses,
        operation_id="compress_dicom_benchmark",
    )
    async def benchmark(tenant: Tenant) -> BenchmarkSummary:
        """The caller's completed jobs grouped by codec and rate: how many, mean ratio, mean
        and median processing time (the job's wall time), slices/s and mean slice PSNR."""
        return BenchmarkSummary(groups=[benchmark_group(r) for r in await stats.benchmark(tenant)])

    return router
