"""The `api_uploads` table (migration 0005): what an upload was declared as, whose it is, and
how far it got (open, completed, aborted; published). The parts themselves are S3's business.

A row is written before S3 is asked for the multipart upload, so the sweep never mistakes an
upload being created for an orphan.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dicompress_api.adapters.database import FAILURES, Database
from dicompress_api.web.errors import StoreUnavailable

_SELECT = """
SELECT upload_id, tenant, channel, bucket, object_key, s3_upload_id, file_name, content_type,
       size, part_size, state, etag, ingest_id, published, created_at
FROM api_uploads
"""
_INSERT = """
INSERT INTO api_uploads (upload_id, tenant, channel, bucket, object_key, s3_upload_id,
    file_name, content_type, size, part_size, state, etag, ingest_id, published, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, now())
"""
_GET = _SELECT + "WHERE upload_id = $1 AND tenant = $2"
_SET_S3_ID = "UPDATE api_uploads SET s3_upload_id = $2 WHERE upload_id = $1"
_COMPLETED = """
UPDATE api_uploads SET state = 'completed', size = $2, etag = $3, finished_at = now()
WHERE upload_id = $1 AND state = 'open'
"""
_PUBLISHED = "UPDATE api_uploads SET published = true WHERE upload_id = $1"
_ABORTED = """
UPDATE api_uploads SET state = 'aborted', finished_at = now()
WHERE upload_id = $1 AND state = 'open'
"""
_ABANDONED = (
    _SELECT
    + """WHERE state = 'open' AND created_at < now() - $1::interval
ORDER BY created_at LIMIT $2"""
)
_UNANNOUNCED = (
    _SELECT
    + """WHERE state = 'completed' AND NOT published AND finished_at < now() - $1::interval
ORDER BY finished_at LIMIT $2"""
)
_KNOWN = "SELECT upload_id FROM api_uploads WHERE upload_id = ANY($1::uuid[])"


@dataclass(frozen=True)
class UploadRecord:
    upload_id: uuid.UUID
    tenant: str
    channel: str
    bucket: str
    key: str
    s3_upload_id: str | None
    file_name: str
    content_type: str
    size: int | None
    part_size: int
    state: str
    etag: str | None
    ingest_id: uuid.UUID
    published: bool = False
    created_at: datetime | None = None


class PostgresUploads:
    """Reads and writes `api_uploads` through the API's pool."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def insert(self, record: UploadRecord) -> None:
        r = record
        await self._execute(
            _INSERT,
            r.upload_id,
            r.tenant,
            r.channel,
            r.bucket,
            r.key,
            r.s3_upload_id,
            r.file_name,
            r.content_type,
            r.size,
            r.part_size,
            r.state,
            r.etag,
            r.ingest_id,
            r.published,
        )

    async def get(self, upload_id: uuid.UUID, tenant: str) -> UploadRecord | None:
        """The upload if it is the tenant's."""
        try:
            row = await self._database.pool().fetchrow(_GET, upload_id, tenant)
        except FAILURES as exc:
            raise _unavailable(exc) from exc
        return _record(dict(row)) if row is not None else None

    async def set_s3_upload_id(self, upload_id: uuid.UUID, s3_upload_id: str) -> None:
        await self._execute(_SET_S3_ID, upload_id, s3_upload_id)

    async def completed(self, upload_id: uuid.UUID, size: int, etag: str) -> None:
        await self._execute(_COMPLETED, upload_id, size, etag)

    async def published(self, upload_id: uuid.UUID) -> None:
        await self._execute(_PUBLISHED, upload_id)

    async def aborted(self, upload_id: uuid.UUID) -> None:
        await self._execute(_ABORTED, upload_id)

    async def abandoned(self, older_than: timedelta, limit: int) -> list[UploadRecord]:
        """Open uploads begun more than `older_than` ago (by the database's clock), oldest first."""
        rows = await self._database.fetch(_ABANDONED, older_than, limit, reader=_READER)
        return [_record(row) for row in rows]

    async def unannounced(self, older_than: timedelta, limit: int) -> list[UploadRecord]:
        """Completed uploads whose ArchiveUploaded was not acknowledged `older_than` later."""
        rows = await self._database.fetch(_UNANNOUNCED, older_than, limit, reader=_READER)
        return [_record(row) for row in rows]

    async def known(self, upload_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """Which of `upload_ids` have a row, whatever their state."""
        rows = await self._database.fetch(_KNOWN, list(upload_ids), reader=_READER)
        return {row["upload_id"] for row in rows}

    async def _execute(self, query: str, *args: object) -> None:
        try:
            await self._database.pool().execute(query, *args)
        except FAILURES as exc:
            raise _unavailable(exc) from exc


def _record(row: Mapping[str, Any]) -> UploadRecord:
    return UploadRecord(
        upload_id=row["upload_id"],
        tenant=row["tenant"],
        channel=row["channel"],
        bucket=row["bucket"],
        key=row["object_key"],
        s3_upload_id=row["s3_upload_id"],
        file_name=row["file_name"],
        content_type=row["content_type"],
        size=row["size"],
        part_size=row["part_size"],
        state=row["state"],
        etag=row["etag"],
        ingest_id=row["ingest_id"],
        published=row["published"],
        created_at=row["created_at"],
    )


_READER = "the upload records"


def _unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"{_READER} did not answer: {exc}")
