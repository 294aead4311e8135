"""Streamed uploads: the request body goes to S3 by multipart while it arrives.

Parts of `stream_part_bytes` are cut from the body as it comes; one part is being written to
S3 while the next one fills, so a request holds at most two parts in memory and nothing on
disk. Past the size cap, an empty body, a client that goes away or S3 failing mid-way: the
multipart upload is aborted, so no part is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

from dicompress_api.uploads.announce import ArchivePublisher, announce, ingest_id_for
from dicompress_api.uploads.errors import StorageUnavailable, TooManyStreams, UploadTooLarge
from dicompress_api.uploads.models import UploadAccepted, UploadState
from dicompress_api.uploads.multipart import ReceivedPart, S3Multipart
from dicompress_api.uploads.names import base_name, object_name
from dicompress_api.uploads.policy import UploadPolicy
from dicompress_api.uploads.presigned import accepted
from dicompress_api.uploads.records import PostgresUploads, UploadRecord
from dicompress_api.web.errors import FieldProblem, InvalidRequest

_BUSY_RETRY_S = 5


class StreamedUploads:
    """The streamed way in; one per app, counting the streams it receives at once."""

    def __init__(
        self,
        policy: UploadPolicy,
        records: PostgresUploads,
        multipart: S3Multipart,
        publisher: ArchivePublisher,
    ) -> None:
        self._policy = policy
        self._records = records
        self._multipart = multipart
        self._publisher = publisher
        self._active = 0

    async def receive(
        self,
        tenant: str,
        file_name: str,
        content_type: str,
        declared_size: int | None,
        body: AsyncIterator[bytes],
    ) -> UploadAccepted:
        """Write `body` to S3 under the tenant's prefix and announce it."""
        if declared_size is not None:
            self._policy.check_size(declared_size)  # before anything is created
        safe = object_name(file_name, content_type)
        if self._active >= self._policy.max_streams:
            raise TooManyStreams(
                f"this API instance already receives {self._active} uploads",
                retry_after_s=_BUSY_RETRY_S,
            )
        self._active += 1
        try:
            record = await self._begin(tenant, base_name(file_name) or safe, safe, content_type)
            return await self._receive(record, body)
        finally:
            self._active -= 1

    async def _begin(self, tenant: str, shown: str, safe: str, content_type: str) -> UploadRecord:
        upload_id = uuid.uuid4()
        record = UploadRecord(
            upload_id=upload_id,
            tenant=tenant,
            channel="streamed",
            bucket=self._policy.bucket,
            key=self._policy.key(tenant, str(upload_id), safe),
            s3_upload_id=None,
            file_name=shown,
            content_type=content_type,
            size=None,
            part_size=self._policy.stream_part_bytes,
            state=UploadState.OPEN,
            etag=None,
            ingest_id=ingest_id_for(upload_id),
            created_at=datetime.now(UTC),
        )
        await self._records.insert(record)
        try:
            s3_upload_id = await self._multipart.create(
                record.bucket, record.key, content_type, str(upload_id)
            )
        except StorageUnavailable:
            await self._records.aborted(upload_id)
            raise
        await self._records.set_s3_upload_id(upload_id, s3_upload_id)
        return replace(record, s3_upload_id=s3_upload_id)

    async def _receive(self, record: UploadRecord, body: AsyncIterator[bytes]) -> UploadAccepted:
        assert record.s3_upload_id is not None
        try:
            parts = await self._write_parts(record, record.s3_upload_id, body)
            if not parts:
                raise InvalidRequest(
                    [FieldProblem("(body)", "empty", "the request body is empty: send the file")]
                )
            await self._multipart.complete(record.bucket, record.key, record.s3_upload_id, parts)
        except BaseException:
            # Whatever stopped us (cap, empty body, disconnect, S3, cancellation): no parts left.
            await asyncio.shield(self._abort(record, record.s3_upload_id))
            raise
        stored = await self._multipart.stored(record.bucket, record.key)
        if stored is None:
            raise StorageUnavailable(f"S3 completed {record.key} but does not show it yet")
        await self._records.completed(record.upload_id, stored.size, stored.etag)
        record = replace(record, state=UploadState.COMPLETED, size=stored.size, etag=stored.etag)
        # If the broker does not ack, the row stays unpublished and the sweep publishes it later.
        await announce(self._publisher, self._records, record, stored)
        return accepted(record, stored)

    async def _write_parts(
        self, record: UploadRecord, s3_upload_id: str, body: AsyncIterator[bytes]
    ) -> list[ReceivedPart]:
        part_size = record.part_size
        buffer = bytearray()
        total = number = 0
        sent: list[ReceivedPart] = []
        pending: asyncio.Task[ReceivedPart] | None = None
        try:
            async for chunk in body:
                total += len(chunk)
                if total > self._policy.max_bytes:
                    raise UploadTooLarge(
                        f"the body passed {self._policy.max_bytes} bytes",
                        limit=self._policy.max_bytes,
                    )
                buffer += chunk
                while len(buffer) >= part_size:
                    with memoryview(buffer) as view:
                        data = bytes(view[:part_size])
                    del buffer[:part_size]
                    if pending is not None:
                        sent.append(await pending)  # at most one part in flight
                    number += 1
                    pending = self._send(record, s3_upload_id, number, data)
            if pending is not None:
                sent.append(await pending)
                pending = None
            if buffer:
                number += 1
                sent.append(await self._send(record, s3_upload_id, number, bytes(buffer)))
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
                await asyncio.wait([pending])  # its outcome no longer matters...
                if not pending.cancelled():
                    pending.exception()  # ...but is marked seen, so asyncio does not warn
        return sent

    def _send(
        self, record: UploadRecord, s3_upload_id: str, number: int, data: bytes
    ) -> asyncio.Task[ReceivedPart]:
        async def send() -> ReceivedPart:
            etag = await self._multipart.upload_part(
                record.bucket, record.key, s3_upload_id, number, data
            )
            return ReceivedPart(number, len(data), etag)

        return asyncio.create_task(send())

    async def _abort(self, record: UploadRecord, s3_upload_id: str) -> None:
        with contextlib.suppress(StorageUnavailable):
            await self._multipart.abort(record.bucket, record.key, s3_upload_id)
        with contextlib.suppress(Exception):
            await self._records.aborted(record.upload_id)
