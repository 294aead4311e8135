"""The end of every upload: one `ArchiveUploaded` (seq 0 of its ingest) on the ingest requests
topic, then the row marked published so a retry publishes nothing new.

The ingest id derives from the upload id, and the event id from the ingest id: if the API dies
between the broker's ack and the row's update, the retry publishes the same event again and
consumers drop it as a duplicate.
"""

from __future__ import annotations

import logging
import uuid
from typing import Protocol

from dicompress_api.uploads.multipart import StoredObject
from dicompress_api.uploads.records import PostgresUploads, UploadRecord
from dicompress_api.web.errors import StoreUnavailable
from dicompress_schemas import ArchiveUploaded, UploadChannel, new_ingest_event_id

log = logging.getLogger(__name__)

_INGEST_OF_UPLOAD = uuid.UUID("5f1d0c2e-7a4b-4c39-9e8d-2b6a1f3c4d5e")


class ArchivePublisher(Protocol):
    """Puts an ingest's first event on the ingest requests topic."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish_ingest(self, event: ArchiveUploaded) -> None:
        """Return once the broker acknowledged it; PublishUnavailable if not in time."""


def ingest_id_for(upload_id: uuid.UUID) -> uuid.UUID:
    """The ingest of an upload: the same for every retry of its completion."""
    return uuid.uuid5(_INGEST_OF_UPLOAD, str(upload_id))


def archive_uploaded(record: UploadRecord, stored: StoredObject) -> ArchiveUploaded:
    return ArchiveUploaded(
        event_id=new_ingest_event_id(record.ingest_id, 0),
        ingest_id=record.ingest_id,
        tenant=record.tenant,
        seq=0,
        bucket=record.bucket,
        key=record.key,
        size=stored.size,
        etag=stored.etag,
        file_name=record.file_name,
        content_type=record.content_type,
        channel=UploadChannel(record.channel),
        upload_id=record.upload_id,
    )


async def announce(
    publisher: ArchivePublisher,
    records: PostgresUploads,
    record: UploadRecord,
    stored: StoredObject,
) -> ArchiveUploaded:
    """Publish the upload's `ArchiveUploaded` and remember that it was."""
    event = archive_uploaded(record, stored)
    await publisher.publish_ingest(event)
    try:
        await records.published(record.upload_id)
    except StoreUnavailable:
        # The event is on the log; a retry publishes it again under the same event id, which
        # consumers drop.
        log.warning(
            "could not mark an upload published", extra={"upload_id": str(record.upload_id)}
        )
    log.info(
        "archive uploaded",
        extra={
            "upload_id": str(record.upload_id),
            "ingest_id": str(record.ingest_id),
            "tenant": record.tenant,
            "event_type": "ArchiveUploaded",
            "channel": record.channel,
            "bytes": stored.size,
        },
    )
    return event
