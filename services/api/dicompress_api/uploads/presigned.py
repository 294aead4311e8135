"""Presigned multipart uploads: the client sends parts straight to S3, the API only plans,
signs, checks and completes.

`begin` writes the row, then creates the S3 upload; `view` asks S3 which parts it holds and
signs fresh URLs for the others; `complete` checks every part against the plan, completes in S3
and announces the upload once; `abort` drops it. An upload S3 no longer holds open is
reconciled from the object itself: there, it was completed (by a request that died before
noting it); absent, it was aborted or expired.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from dicompress_api.uploads.announce import ArchivePublisher, announce, ingest_id_for
from dicompress_api.uploads.errors import StorageUnavailable, UploadConflict, UploadNotFound
from dicompress_api.uploads.models import (
    CompleteRequest,
    MissingPartView,
    ReceivedPartView,
    UploadAccepted,
    UploadRequest,
    UploadState,
    UploadView,
)
from dicompress_api.uploads.multipart import (
    ReceivedPart,
    S3Multipart,
    StoredObject,
    UploadVanished,
)
from dicompress_api.uploads.names import base_name, object_name
from dicompress_api.uploads.parts import PartPlan, check_parts, plan_parts
from dicompress_api.uploads.policy import UploadPolicy
from dicompress_api.uploads.records import PostgresUploads, UploadRecord
from dicompress_api.web.errors import FieldProblem, InvalidRequest

# Above this many URLs, signing moves off the event loop (about 0.1 ms each).
_SIGN_INLINE_MAX = 64


class PresignedUploads:
    """The presigned way in; one per app."""

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

    async def begin(self, request: UploadRequest, tenant: str) -> UploadView:
        """Plan the parts and create the S3 upload; every part URL in the answer."""
        self._policy.check_size(request.size)
        content_type = request.content_type.value
        safe = object_name(request.file_name, content_type)
        plan = plan_parts(request.size, self._policy.part_bytes)
        upload_id = uuid.uuid4()
        record = UploadRecord(
            upload_id=upload_id,
            tenant=tenant,
            channel="presigned",
            bucket=self._policy.bucket,
            key=self._policy.key(tenant, str(upload_id), safe),
            s3_upload_id=None,
            file_name=base_name(request.file_name) or safe,
            content_type=content_type,
            size=request.size,
            part_size=plan.part_size,
            state=UploadState.OPEN,
            etag=None,
            ingest_id=ingest_id_for(upload_id),
            created_at=datetime.now(UTC),
        )
        await self._records.insert(record)  # first: the sweep never sees S3's upload unowned
        try:
            s3_upload_id = await self._multipart.create(
                record.bucket, record.key, content_type, str(upload_id)
            )
        except StorageUnavailable:
            await self._records.aborted(upload_id)
            raise
        await self._records.set_s3_upload_id(upload_id, s3_upload_id)
        return await self._view(replace(record, s3_upload_id=s3_upload_id), [])

    async def view(self, upload_id: uuid.UUID, tenant: str) -> UploadView:
        """The upload as S3 holds it now, with fresh URLs for the parts still to send."""
        record = await self._owned(upload_id, tenant)
        if record.state != UploadState.OPEN:
            return await self._view(record, [])
        try:
            received = await self._multipart.parts(record.bucket, record.key, _s3_id(record))
        except UploadVanished:
            record = await self._reconcile(record)
            return await self._view(record, [])
        return await self._view(record, received)

    async def complete(
        self, upload_id: uuid.UUID, tenant: str, request: CompleteRequest | None
    ) -> UploadAccepted:
        """Complete in S3 (once) and publish `ArchiveUploaded` (once); a retry answers the same."""
        record = await self._owned(upload_id, tenant)
        if record.state == UploadState.OPEN:
            record = await self._finish(record, request)
        if record.state == UploadState.ABORTED:
            raise UploadConflict(
                f"upload {upload_id} was aborted (or expired); start a new one",
                state=record.state,
            )
        stored = stored_object(record)
        if not record.published:
            await announce(self._publisher, self._records, record, stored)
        return accepted(record, stored)

    async def abort(self, upload_id: uuid.UUID, tenant: str) -> None:
        """Abort an open upload and drop its parts; aborting twice is fine."""
        record = await self._owned(upload_id, tenant)
        if record.state == UploadState.COMPLETED:
            raise UploadConflict(
                f"upload {upload_id} is completed; its ingest is {record.ingest_id}",
                state=record.state,
            )
        if record.state == UploadState.OPEN and record.s3_upload_id is not None:
            await self._multipart.abort(record.bucket, record.key, record.s3_upload_id)
        await self._records.aborted(upload_id)

    async def _finish(self, record: UploadRecord, request: CompleteRequest | None) -> UploadRecord:
        try:
            received = await self._multipart.parts(record.bucket, record.key, _s3_id(record))
        except UploadVanished:
            return await self._reconcile(record)
        plan = _plan(record)
        chosen = _checked_parts(plan, received, record.upload_id)
        if request is not None and request.parts is not None:
            _match_client_list(chosen, request)
        try:
            await self._multipart.complete(record.bucket, record.key, _s3_id(record), chosen)
        except UploadVanished:  # a concurrent complete (or the sweep) got there first
            return await self._reconcile(record)
        stored = await self._multipart.stored(record.bucket, record.key)
        if stored is None:
            raise StorageUnavailable(f"S3 completed {record.key} but does not show it yet")
        await self._records.completed(record.upload_id, stored.size, stored.etag)
        return replace(record, state=UploadState.COMPLETED, size=stored.size, etag=stored.etag)

    async def _reconcile(self, record: UploadRecord) -> UploadRecord:
        """S3 no longer holds the upload open: completed if its object is there, else aborted."""
        stored = await self._multipart.stored(record.bucket, record.key)
        if stored is not None and stored.size == record.size:
            await self._records.completed(record.upload_id, stored.size, stored.etag)
            return replace(record, state=UploadState.COMPLETED, etag=stored.etag)
        await self._records.aborted(record.upload_id)
        return replace(record, state=UploadState.ABORTED)

    async def _owned(self, upload_id: uuid.UUID, tenant: str) -> UploadRecord:
        record = await self._records.get(upload_id, tenant)
        if record is None or record.channel != "presigned":
            raise UploadNotFound(f"no upload {upload_id} for this tenant")
        return record

    async def _view(self, record: UploadRecord, received: list[ReceivedPart]) -> UploadView:
        plan = _plan(record)
        good = [
            p for p in received if p.number <= plan.count and p.size == plan.part_bytes(p.number)
        ]
        have = {p.number for p in good}
        todo = [n for n in plan.numbers() if n not in have] if record.state == "open" else []
        urls_expire_at = datetime.now(UTC) + timedelta(seconds=self._multipart.url_expiry_s)
        if len(todo) > _SIGN_INLINE_MAX:
            missing = await asyncio.to_thread(self._missing, record, plan, todo)
        else:
            missing = self._missing(record, plan, todo)
        is_open = record.state == UploadState.OPEN
        return UploadView(
            upload_id=record.upload_id,
            state=UploadState(record.state),
            file_name=record.file_name,
            content_type=record.content_type,
            size=plan.size,
            part_size=plan.part_size,
            part_count=plan.count,
            received_bytes=plan.size
            if record.state == UploadState.COMPLETED
            else sum(p.size for p in good),
            parts=[ReceivedPartView(part_number=p.number, size=p.size, etag=p.etag) for p in good],
            missing_parts=missing,
            urls_expire_at=urls_expire_at if missing else None,
            expires_at=record.created_at + self._policy.abandon_after
            if is_open and record.created_at is not None
            else None,
            ingest_id=record.ingest_id if record.state == UploadState.COMPLETED else None,
            status_url=f"/uploads/{record.upload_id}",
        )

    def _missing(
        self, record: UploadRecord, plan: PartPlan, todo: list[int]
    ) -> list[MissingPartView]:
        s3_id = _s3_id(record)
        return [
            MissingPartView(
                part_number=n,
                size=plan.part_bytes(n),
                url=self._multipart.part_url(record.bucket, record.key, s3_id, n),
            )
            for n in todo
        ]


def accepted(record: UploadRecord, stored: StoredObject) -> UploadAccepted:
    """The 202 answer of a completed upload (the same for every retry)."""
    return UploadAccepted(
        upload_id=record.upload_id,
        ingest_id=record.ingest_id,
        file_name=record.file_name,
        size=stored.size,
        etag=stored.etag,
        channel=record.channel,
        status_url=f"/ingests/{record.ingest_id}",
    )


def stored_object(record: UploadRecord) -> StoredObject:
    """What a completed row says S3 holds."""
    if record.size is None or record.etag is None:
        raise ValueError(f"upload {record.upload_id} is not completed")
    return StoredObject(record.size, record.etag)


def _plan(record: UploadRecord) -> PartPlan:
    assert record.size is not None  # a presigned upload's size is declared up front
    return PartPlan(record.size, record.part_size)


def _s3_id(record: UploadRecord) -> str:
    if record.s3_upload_id is None:
        raise UploadConflict(
            f"upload {record.upload_id} is still being created; retry in a second",
            state=record.state,
        )
    return record.s3_upload_id


def _checked_parts(
    plan: PartPlan, received: list[ReceivedPart], upload_id: uuid.UUID
) -> list[ReceivedPart]:
    """The planned parts, each of its planned size; UploadConflict naming what to resend.
    Parts numbered past the plan are left out (completing without them discards them)."""
    check = check_parts(plan, {p.number: p.size for p in received})
    if not check.complete:
        resend = tuple(sorted(check.missing + check.wrong_size))
        wrong = (
            f"; parts {list(check.wrong_size)} do not have their planned size"
            if check.wrong_size
            else ""
        )
        raise UploadConflict(
            f"upload {upload_id} lacks parts {_ranges(resend)} of {plan.count}{wrong}: send "
            f"them (GET /uploads/{upload_id} gives their URLs), then complete again",
            state=UploadState.OPEN,
            missing_parts=resend,
        )
    return [p for p in received if p.number <= plan.count]


def _match_client_list(chosen: list[ReceivedPart], request: CompleteRequest) -> None:
    held = {p.number: p.etag.strip('"') for p in chosen}
    sent = {p.part_number: p.etag.strip('"') for p in request.parts or []}
    problems = [
        FieldProblem(
            f"parts.{n}",
            "etag_mismatch",
            f"part {n}: S3 holds ETag {held.get(n)!r}, the list says {sent.get(n)!r}",
        )
        for n in sorted(held.keys() | sent.keys())
        if held.get(n) != sent.get(n)
    ]
    if problems:
        raise InvalidRequest(problems)


def _ranges(numbers: tuple[int, ...]) -> str:
    """1, 2, 3, 7 -> '1-3, 7'."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in spans)
