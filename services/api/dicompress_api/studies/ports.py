"""The study index as the routes and the job submission read it; tests pass a fake."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from dicompress_api.jobs.listing import Cursor


class StudyIndex(Protocol):
    """Reads the study index the progress service projects. Every read names the tenant, and
    finds nothing of another tenant's; each raises StoreUnavailable when Postgres is away."""

    async def studies(
        self, tenant: str, limit: int, after: Cursor | None
    ) -> list[Mapping[str, Any]]:
        """`studies` rows, newest first by (received_at, study_id), after the cursor's one
        (`Cursor.requested_at` holds a received_at, `job_id` a study id)."""

    async def study(self, tenant: str, study_id: uuid.UUID) -> Mapping[str, Any] | None: ...

    async def series(self, tenant: str, study_uid: str) -> list[Mapping[str, Any]]:
        """The study's `series` rows, by series number."""

    async def instances(
        self, tenant: str, study_uid: str, series_uid: str | None = None
    ) -> list[Mapping[str, Any]]:
        """The study's (or one series') `study_instances` rows, header as JSON text."""

    async def study_ingests(self, tenant: str, study_uid: str) -> list[Mapping[str, Any]]:
        """The `ingests` rows of the ingests that stored instances of the study."""

    async def rejections(
        self, tenant: str, ingest_ids: Sequence[uuid.UUID]
    ) -> list[Mapping[str, Any]]:
        """The `ingest_rejections` rows of these ingests, by ingest and seq."""

    async def ingest(self, tenant: str, ingest_id: uuid.UUID) -> Mapping[str, Any] | None: ...

    async def ingest_studies(self, tenant: str, ingest_id: uuid.UUID) -> list[Mapping[str, Any]]:
        """The `studies` rows of the studies the ingest fed."""

    async def unfiled(self, tenant: str, ingest_id: uuid.UUID) -> list[Mapping[str, Any]]:
        """The `study_instances` rows of the ingest's objects without a study (a DICOMDIR)."""

    async def source_bucket(
        self, tenant: str, study_uid: str, series_uid: str | None
    ) -> str | None:
        """The bucket holding most of the study's (or series') instances, as their ingests'
        uploads say; None when no upload of them is projected yet."""
