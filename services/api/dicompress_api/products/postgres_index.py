"""Reading products and the series they are made from (asyncpg, the app's shared pool)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from dicompress_api.adapters.database import Database

_PRODUCTS = """
SELECT p.job_id, p.kind, p.series_instance_uid, p.params::text AS params, p.product_key,
       p.trigger, p.target_uri, p.requested_at, j.status, j.slices_total, j.slices_done,
       j.slices_failed, j.started_at, j.finished_at, j.wall_ms, j.error_code, j.reason,
       j.artifact_uri, j.artifact_bytes
FROM products p JOIN jobs j ON j.job_id = p.job_id AND j.tenant = p.tenant
WHERE p.tenant = $1 AND p.study_instance_uid = $2
ORDER BY p.requested_at DESC, p.job_id
"""

_IMAGES = """
SELECT job_id, item_index, view, preset, window_center, window_width, size, width, height,
       format, key, bytes, fallback
FROM product_images WHERE job_id = ANY($1::uuid[]) ORDER BY job_id, item_index
"""

# The same series version the products process manager computes (contract: series_version).
_VOLUMES = """
SELECT i.series_instance_uid, max(i.modality) AS modality,
       array_agg(i.sop_instance_uid ORDER BY i.sop_instance_uid) AS uids,
       array_agg(i.sha256 ORDER BY i.sop_instance_uid) AS digests,
       array_agg(i.position ORDER BY i.sop_instance_uid) AS positions,
       mode() WITHIN GROUP (ORDER BY g.bucket) AS bucket
FROM study_instances i LEFT JOIN ingests g ON g.ingest_id = i.ingest_id AND g.tenant = i.tenant
WHERE i.tenant = $1 AND i.study_instance_uid = $2 AND i.kind = 'image'
GROUP BY i.series_instance_uid
ORDER BY i.series_instance_uid
"""


class PostgresProductIndex:
    """`ports.ProductIndex` on the projection's tables."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def products(self, tenant: str, study_uid: str) -> list[Mapping[str, Any]]:
        return await self._fetch(_PRODUCTS, tenant, study_uid)

    async def images(self, job_ids: Sequence[uuid.UUID]) -> list[Mapping[str, Any]]:
        return await self._fetch(_IMAGES, list(job_ids)) if job_ids else []

    async def volumes(self, tenant: str, study_uid: str) -> list[Mapping[str, Any]]:
        return await self._fetch(_VOLUMES, tenant, study_uid)

    async def _fetch(self, query: str, *args: object) -> list[Mapping[str, Any]]:
        return await self._database.fetch(query, *args, reader="the product index")
