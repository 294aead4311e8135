"""The sweep: every API instance, every `interval_s`, tidies what uploads leave behind.

- Abandoned: an upload still open `abandon_after` after it began is aborted in S3 (its parts
  deleted) and marked aborted. A periodic sweep rather than a bucket lifecycle rule, because
  the rule counts whole days and S3Proxy and moto do not apply it; in production a lifecycle
  rule (AbortIncompleteMultipartUpload, a few days) is a good backstop behind it.
- Orphans: an open multipart upload under `{tenant}/uploads/{id}/` with no row (the row is
  written before S3 is asked, so only a lost row makes one) is aborted once S3 says it is old.
- Unannounced: a completed upload whose `ArchiveUploaded` was never acknowledged (the broker
  was away, or the request died) is published now, under the same event id.

Several instances may sweep at once: aborting twice is harmless, and a second publication of
the same event is dropped by consumers.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dicompress_api.uploads.announce import ArchivePublisher, announce
from dicompress_api.uploads.background import BackgroundLoop
from dicompress_api.uploads.errors import StorageUnavailable
from dicompress_api.uploads.multipart import S3Multipart
from dicompress_api.uploads.policy import UploadPolicy
from dicompress_api.uploads.presigned import stored_object
from dicompress_api.uploads.records import PostgresUploads
from dicompress_api.web.errors import PublishUnavailable, StoreUnavailable

log = logging.getLogger(__name__)

_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_UPLOAD_KEY = re.compile(rf"^[^/]+/uploads/(?P<id>{_UUID})/[^/]+$")
_BATCH = 200
# How long a completed upload may wait for its ack before the sweep publishes it itself.
UNANNOUNCED_AFTER = timedelta(minutes=1)


@dataclass(frozen=True)
class SweepResult:
    aborted: int = 0
    orphans: int = 0
    announced: int = 0


class UploadSweep(BackgroundLoop):
    """Runs `sweep_once` every `interval_s` seconds (first after one interval)."""

    def __init__(
        self,
        policy: UploadPolicy,
        records: PostgresUploads,
        multipart: S3Multipart,
        publisher: ArchivePublisher,
        interval_s: float,
    ) -> None:
        self._policy = policy
        self._records = records
        self._multipart = multipart
        self._publisher = publisher
        self._interval_s = interval_s

    async def sweep_once(self) -> SweepResult:
        """One pass; what it did, for logs and tests."""
        result = SweepResult(
            aborted=await self._abort_abandoned(),
            orphans=await self._abort_orphans(),
            announced=await self._announce_completed(),
        )
        if result != SweepResult():
            log.info(
                "upload sweep",
                extra={
                    "aborted": result.aborted,
                    "orphans": result.orphans,
                    "announced": result.announced,
                },
            )
        return result

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.sweep_once()
            except (StoreUnavailable, StorageUnavailable, PublishUnavailable) as exc:
                log.warning(
                    "upload sweep failed; next try in one interval", extra={"error": str(exc)}
                )

    async def _abort_abandoned(self) -> int:
        records = await self._records.abandoned(self._policy.abandon_after, _BATCH)
        for record in records:
            if record.s3_upload_id is not None:
                await self._multipart.abort(record.bucket, record.key, record.s3_upload_id)
            await self._records.aborted(record.upload_id)
            log.info(
                "aborted an abandoned upload",
                extra={"upload_id": str(record.upload_id), "tenant": record.tenant},
            )
        return len(records)

    async def _abort_orphans(self) -> int:
        uploads = await self._multipart.open_uploads(self._policy.bucket, "")
        ours = {
            uuid.UUID(match["id"]): upload
            for upload in uploads
            if (match := _UPLOAD_KEY.match(upload.key))
        }
        if not ours:
            return 0
        known = await self._records.known(ours)
        cutoff = datetime.now(UTC) - self._policy.abandon_after
        orphans = [
            upload
            for upload_id, upload in ours.items()
            if upload_id not in known and upload.initiated < cutoff
        ]
        for upload in orphans:
            await self._multipart.abort(self._policy.bucket, upload.key, upload.s3_upload_id)
            log.info("aborted an orphan upload", extra={"key": upload.key})
        return len(orphans)

    async def _announce_completed(self) -> int:
        records = await self._records.unannounced(UNANNOUNCED_AFTER, _BATCH)
        for record in records:
            await announce(self._publisher, self._records, record, stored_object(record))
        return len(records)
