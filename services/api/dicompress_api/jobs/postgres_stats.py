"""Aggregates over the jobs projection: the queue, recent throughput, the benchmark summary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dicompress_api.adapters.database import FAILURES, Database
from dicompress_api.jobs.queue import TenantLoad, Throughput
from dicompress_api.web.errors import StoreUnavailable

# Every tenant's waiting and running jobs, in the order the workers take them (oldest request
# first in each request topic, `topic`: the lane). Bounded: the queue itself is bounded by
# API_MAX_QUEUE_LENGTH, so this only guards against surprises.
_QUEUE = """
SELECT j.job_id, j.tenant, j.status, j.requested_at, j.started_at, j.slices_total,
       j.slices_done, j.slices_failed, j.eta_at, e.topic
FROM jobs j LEFT JOIN job_events e ON e.job_id = j.job_id AND e.seq = 0
WHERE j.status IN ('queued', 'running')
ORDER BY j.requested_at NULLS LAST, j.job_id LIMIT 10000
"""
_QUEUED = "SELECT count(*) FROM jobs WHERE status = 'queued'"
# A tenant's compressions waiting or running, and those requested on the interactive lane's
# topic: the lane is where the request was put, recorded with it (seq 0) in job_events.
_TENANT_LOAD = """
SELECT count(*) AS active, count(*) FILTER (WHERE e.topic = $2) AS interactive
FROM jobs j JOIN job_events e ON e.job_id = j.job_id AND e.seq = 0
WHERE j.tenant = $1 AND j.status IN ('queued', 'running') AND e.type = 'CompressionRequested'
"""
_THROUGHPUT = """
SELECT count(*) AS jobs,
       sum(slices_done + slices_failed)::float8 / NULLIF(sum(took_ms), 0) * 1000 AS slices_per_s,
       avg(took_ms) / 1000 AS mean_job_s
FROM (SELECT slices_done, slices_failed, COALESCE(run_ms, wall_ms) AS took_ms FROM jobs
      WHERE status = 'completed' AND COALESCE(run_ms, wall_ms) IS NOT NULL
      ORDER BY finished_at DESC NULLS LAST LIMIT $1) AS recent
"""
_BENCHMARK = """
SELECT j.codec, j.compression_rate, count(*) AS jobs, sum(j.slices_done) AS slices,
       avg(j.ratio) AS mean_ratio, avg(j.wall_ms) AS mean_wall_ms,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY j.wall_ms) AS p50_wall_ms,
       sum(j.slices_done)::float8 / NULLIF(sum(j.wall_ms), 0) * 1000 AS slices_per_s,
       avg(q.psnr_db) AS mean_psnr_db, max(q.max_error_hu) AS max_error_hu
FROM jobs j
LEFT JOIN (SELECT job_id, avg(psnr_db) AS psnr_db, max(max_error_hu) AS max_error_hu
           FROM job_slices WHERE status = 'encoded' AND psnr_db < 'Infinity'
           GROUP BY job_id) q USING (job_id)
WHERE j.tenant = $1 AND j.status = 'completed'
GROUP BY j.codec, j.compression_rate
ORDER BY j.codec, j.compression_rate NULLS FIRST
"""


class PostgresStats:
    """Read-only aggregates on the process's shared `Database`."""

    def __init__(self, database: Database, interactive_topic: str) -> None:
        self._database = database
        self._interactive_topic = interactive_topic

    async def queue(self) -> list[Mapping[str, Any]]:
        return await self._fetch(_QUEUE)

    async def queued_count(self) -> int:
        [row] = await self._fetch(_QUEUED)
        return int(row["count"])

    async def tenant_load(self, tenant: str) -> TenantLoad:
        [row] = await self._fetch(_TENANT_LOAD, tenant, self._interactive_topic)
        return TenantLoad(int(row["active"]), int(row["interactive"]))

    async def throughput(self, window: int) -> Throughput:
        [row] = await self._fetch(_THROUGHPUT, window)
        return Throughput(row["jobs"], row["slices_per_s"], row["mean_job_s"])

    async def benchmark(self, tenant: str) -> list[Mapping[str, Any]]:
        return await self._fetch(_BENCHMARK, tenant)

    async def _fetch(self, query: str, *args: object) -> list[Mapping[str, Any]]:
        try:
            rows = await self._database.pool().fetch(query, *args)
        except FAILURES as exc:
            raise StoreUnavailable(f"the job database did not answer: {exc}") from exc
        return [dict(row) for row in rows]
