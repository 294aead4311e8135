"""The study index as the process manager reads it (asyncpg): has the progress worker projected
an ingest yet, which series did it store, and which product jobs exist already."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence

import asyncpg

from dicompress_products.planner import ReceivedSeries
from dicompress_schemas.products import key_instance, series_version

POLL_S = 0.05

_INGEST = "SELECT status, bucket FROM ingests WHERE ingest_id = $1 AND tenant = $2"

# The series of which this ingest stored the latest copy of at least one image, with every image
# of the series (from any ingest): its version covers all of it.
_SERIES = """
SELECT i.study_instance_uid, i.series_instance_uid, max(i.modality) AS modality,
       array_agg(i.sop_instance_uid ORDER BY i.sop_instance_uid) AS uids,
       array_agg(i.sha256 ORDER BY i.sop_instance_uid) AS digests,
       array_agg(i.position ORDER BY i.sop_instance_uid) AS positions
FROM study_instances i
WHERE i.tenant = $1 AND i.kind = 'image'
  AND (i.study_instance_uid, i.series_instance_uid) IN (
      SELECT study_instance_uid, series_instance_uid FROM study_instances
      WHERE tenant = $1 AND ingest_id = $2 AND kind = 'image')
GROUP BY i.study_instance_uid, i.series_instance_uid
ORDER BY i.study_instance_uid, i.series_instance_uid
"""

_KNOWN = "SELECT job_id FROM jobs WHERE job_id = ANY($1::uuid[])"


class NotProjectedYet(Exception):
    """The progress worker has not projected the ingest in time: try the message again later."""


class StudyIndex:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def wait_projected(self, tenant: str, ingest_id: uuid.UUID, timeout_s: float) -> str:
        """The ingest's bucket once its row says completed; NotProjectedYet after `timeout_s`.

        Polled, not listened for: the wait is one projection batch (tens of ms) and the
        change feed carries jobs, not ingests."""
        deadline = time.monotonic() + timeout_s
        while True:
            row = await self._pool.fetchrow(_INGEST, ingest_id, tenant)
            if row is not None and row["status"] == "completed":
                return str(row["bucket"])
            if time.monotonic() > deadline:
                raise NotProjectedYet(f"ingest {ingest_id} is not projected as completed yet")
            await asyncio.sleep(POLL_S)

    async def received_series(
        self, tenant: str, ingest_id: uuid.UUID, bucket: str
    ) -> list[ReceivedSeries]:
        rows = await self._pool.fetch(_SERIES, tenant, ingest_id)
        return [
            ReceivedSeries(
                study_uid=row["study_instance_uid"],
                series_uid=row["series_instance_uid"],
                modality=row["modality"],
                images=len(row["uids"]),
                version=series_version(zip(row["uids"], row["digests"], strict=True)),
                bucket=bucket,
                key_instance=key_instance(zip(row["uids"], row["positions"], strict=True)),
            )
            for row in rows
        ]

    async def known_jobs(self, job_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        rows = await self._pool.fetch(_KNOWN, list(job_ids))
        return {row["job_id"] for row in rows}
