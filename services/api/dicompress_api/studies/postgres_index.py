"""Reading the study index from Postgres (asyncpg), on the process's shared `Database`.

The tenant is in every query's WHERE clause: another tenant's rows are never read, so they
answer exactly as unknown ones do.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from dicompress_api.adapters.database import Database
from dicompress_api.jobs.listing import Cursor

_STUDY_COLUMNS = """t.study_id, t.study_instance_uid, t.patient_name, t.patient_id, t.study_date,
    t.study_description, t.accession_number, t.modalities, t.series_count, t.instance_count,
    t.image_count, t.non_image_count, t.bytes, t.received_at, t.last_stored_at"""

_STUDIES = f"""
SELECT {_STUDY_COLUMNS} FROM studies t
WHERE t.tenant = $1 AND ($2::uuid IS NULL OR (t.received_at, t.study_id) < ($3, $2))
ORDER BY t.received_at DESC, t.study_id DESC LIMIT $4
"""  # noqa: S608 - fixed text, values are bound

_STUDY = f"SELECT {_STUDY_COLUMNS} FROM studies t WHERE t.tenant = $1 AND t.study_id = $2"  # noqa: S608 - fixed text

_SERIES = """
SELECT series_instance_uid, modality, series_number, series_description, sop_class_uids,
       instance_count, image_count, non_image_count, frame_count, bytes, received_at,
       last_stored_at
FROM series WHERE tenant = $1 AND study_instance_uid = $2
ORDER BY series_number NULLS LAST, series_instance_uid
"""

_INSTANCES = """
SELECT sop_instance_uid, series_instance_uid, kind, sop_class_uid, transfer_syntax_uid, modality,
       key, bytes, member, header
FROM study_instances
WHERE tenant = $1 AND study_instance_uid = $2 AND ($3::text IS NULL OR series_instance_uid = $3)
ORDER BY series_instance_uid, instance_number NULLS LAST, sop_instance_uid
"""

_INGEST_COLUMNS = """ingest_id, status, file_name, key, size, content_type, channel, upload_id,
    worker, members, instances, images, non_images, rejected, skipped, bytes_stored,
    error_code, reason, detail, uploaded_at, started_at, finished_at"""

_STUDY_INGESTS = f"""
SELECT {_INGEST_COLUMNS} FROM ingests
WHERE tenant = $1 AND ingest_id IN (
    SELECT ingest_id FROM ingest_studies WHERE tenant = $1 AND study_instance_uid = $2)
ORDER BY uploaded_at, ingest_id
"""  # noqa: S608 - fixed text, values are bound

_REJECTIONS = """
SELECT ingest_id, seq, member, bytes, error_code, reason, detail FROM ingest_rejections
WHERE tenant = $1 AND ingest_id = ANY($2::uuid[]) ORDER BY ingest_id, seq
"""

_INGEST = f"SELECT {_INGEST_COLUMNS} FROM ingests WHERE tenant = $1 AND ingest_id = $2"  # noqa: S608 - fixed text

_INGEST_STUDIES = f"""
SELECT {_STUDY_COLUMNS} FROM ingest_studies s
JOIN studies t ON t.tenant = s.tenant AND t.study_instance_uid = s.study_instance_uid
WHERE s.tenant = $1 AND s.ingest_id = $2
ORDER BY t.received_at DESC, t.study_id DESC
"""  # noqa: S608 - fixed text, values are bound

_UNFILED = """
SELECT sop_instance_uid, series_instance_uid, kind, sop_class_uid, transfer_syntax_uid, modality,
       key, bytes, member, header
FROM study_instances
WHERE tenant = $1 AND ingest_id = $2 AND study_instance_uid IS NULL
ORDER BY member, sop_instance_uid
"""

_SOURCE_BUCKET = """
SELECT g.bucket FROM study_instances i JOIN ingests g ON g.ingest_id = i.ingest_id
WHERE i.tenant = $1 AND g.tenant = $1 AND i.study_instance_uid = $2
  AND ($3::text IS NULL OR i.series_instance_uid = $3) AND g.bucket IS NOT NULL
GROUP BY g.bucket ORDER BY count(*) DESC, g.bucket LIMIT 1
"""


class PostgresStudyIndex:
    """The study index's reader (`ports.StudyIndex`)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def studies(
        self, tenant: str, limit: int, after: Cursor | None
    ) -> list[Mapping[str, Any]]:
        args = (
            tenant,
            after.job_id if after else None,
            after.requested_at if after else None,
            limit,
        )
        return await self._fetch(_STUDIES, *args)

    async def study(self, tenant: str, study_id: uuid.UUID) -> Mapping[str, Any] | None:
        rows = await self._fetch(_STUDY, tenant, study_id)
        return rows[0] if rows else None

    async def series(self, tenant: str, study_uid: str) -> list[Mapping[str, Any]]:
        return await self._fetch(_SERIES, tenant, study_uid)

    async def instances(
        self, tenant: str, study_uid: str, series_uid: str | None = None
    ) -> list[Mapping[str, Any]]:
        return await self._fetch(_INSTANCES, tenant, study_uid, series_uid)

    async def study_ingests(self, tenant: str, study_uid: str) -> list[Mapping[str, Any]]:
        return await self._fetch(_STUDY_INGESTS, tenant, study_uid)

    async def rejections(
        self, tenant: str, ingest_ids: Sequence[uuid.UUID]
    ) -> list[Mapping[str, Any]]:
        if not ingest_ids:
            return []
        return await self._fetch(_REJECTIONS, tenant, list(ingest_ids))

    async def ingest(self, tenant: str, ingest_id: uuid.UUID) -> Mapping[str, Any] | None:
        rows = await self._fetch(_INGEST, tenant, ingest_id)
        return rows[0] if rows else None

    async def ingest_studies(self, tenant: str, ingest_id: uuid.UUID) -> list[Mapping[str, Any]]:
        return await self._fetch(_INGEST_STUDIES, tenant, ingest_id)

    async def unfiled(self, tenant: str, ingest_id: uuid.UUID) -> list[Mapping[str, Any]]:
        return await self._fetch(_UNFILED, tenant, ingest_id)

    async def source_bucket(
        self, tenant: str, study_uid: str, series_uid: str | None
    ) -> str | None:
        rows = await self._fetch(_SOURCE_BUCKET, tenant, study_uid, series_uid)
        return str(rows[0]["bucket"]) if rows else None

    async def _fetch(self, query: str, *args: object) -> list[Mapping[str, Any]]:
        return await self._database.fetch(query, *args, reader="the study index")
