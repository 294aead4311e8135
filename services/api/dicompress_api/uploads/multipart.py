"""S3 multipart uploads with the process's boto3 client (sync: every request runs in a thread).

S3 itself is the record of what was received: ListParts answers which parts are there, with
their sizes and ETags, whichever client or API instance sent them. Servers differ once an
upload is over (AWS and moto answer NoSuchUpload to ListParts; S3Proxy answers an empty list,
and NoSuchKey to a second complete), so "is it still open" is asked of ListMultipartUploads.
Presigning a part URL is a local signature, no request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from dicompress_api.adapters.s3client import S3Connection
from dicompress_api.uploads.errors import StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# What S3 servers answer for an upload that is over (completed, aborted, expired).
_GONE = frozenset({"NoSuchUpload", "NoSuchKey", "404"})


@dataclass(frozen=True)
class ReceivedPart:
    """A part S3 holds: its number, size and ETag (quoted, as S3 gives it)."""

    number: int
    size: int
    etag: str


@dataclass(frozen=True)
class StoredObject:
    size: int
    etag: str


@dataclass(frozen=True)
class OpenUpload:
    """A multipart upload S3 still holds open."""

    key: str
    s3_upload_id: str
    initiated: datetime


class UploadVanished(Exception):
    """The multipart upload is no longer open in S3 (completed, aborted or expired)."""


class S3Multipart:
    """Create, sign, list, complete and abort multipart uploads."""

    def __init__(self, s3: S3Connection, url_expiry_s: int) -> None:
        self._s3 = s3
        self.url_expiry_s = url_expiry_s

    async def start(self) -> None:
        await self._s3.start()

    async def close(self) -> None:
        await self._s3.close()

    async def create(self, bucket: str, key: str, content_type: str, upload_id: str) -> str:
        """Begin a multipart upload at `key`; returns S3's upload id."""
        answer = await self._call(
            "create_multipart_upload",
            Bucket=bucket,
            Key=key,
            ContentType=content_type,
            Metadata={"dicompress-upload-id": upload_id},
        )
        return str(answer["UploadId"])

    def part_url(self, bucket: str, key: str, s3_upload_id: str, number: int) -> str:
        """A presigned UploadPart URL for part `number`, valid `url_expiry_s` seconds."""
        return self._client().generate_presigned_url(
            "upload_part",
            Params={"Bucket": bucket, "Key": key, "UploadId": s3_upload_id, "PartNumber": number},
            ExpiresIn=self.url_expiry_s,
        )

    async def upload_part(
        self, bucket: str, key: str, s3_upload_id: str, number: int, data: bytes
    ) -> str:
        """Send one part (the streamed path); returns its ETag."""
        answer = await self._call(
            "upload_part",
            Bucket=bucket,
            Key=key,
            UploadId=s3_upload_id,
            PartNumber=number,
            Body=data,
        )
        return str(answer["ETag"])

    async def parts(self, bucket: str, key: str, s3_upload_id: str) -> list[ReceivedPart]:
        """Every part S3 holds, by number; UploadVanished if the upload is no longer open."""
        try:
            found = await asyncio.to_thread(self._list_parts, bucket, key, s3_upload_id)
        except ClientError as exc:
            if _code(exc) in _GONE:
                raise UploadVanished(key) from exc
            raise _unavailable("list the parts of", key, exc) from exc
        except BotoCoreError as exc:
            raise _unavailable("list the parts of", key, exc) from exc
        if not found and not await self.is_open(bucket, key, s3_upload_id):
            raise UploadVanished(key)
        return found

    async def is_open(self, bucket: str, key: str, s3_upload_id: str) -> bool:
        uploads = await self.open_uploads(bucket, key)
        return any(u.key == key and u.s3_upload_id == s3_upload_id for u in uploads)

    async def complete(
        self, bucket: str, key: str, s3_upload_id: str, parts: Sequence[ReceivedPart]
    ) -> None:
        """Join the parts into the object; UploadVanished if the upload is no longer open."""
        listed = [{"PartNumber": p.number, "ETag": p.etag} for p in parts]
        try:
            await asyncio.to_thread(
                self._client().complete_multipart_upload,
                Bucket=bucket,
                Key=key,
                UploadId=s3_upload_id,
                MultipartUpload={"Parts": listed},  # type: ignore[typeddict-item]
            )
        except ClientError as exc:
            if _code(exc) in _GONE:
                raise UploadVanished(key) from exc
            raise _unavailable("complete", key, exc) from exc
        except BotoCoreError as exc:
            raise _unavailable("complete", key, exc) from exc

    async def stored(self, bucket: str, key: str) -> StoredObject | None:
        """The object's size and ETag, or None if there is none."""
        try:
            head = await asyncio.to_thread(self._client().head_object, Bucket=bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _GONE:
                return None
            raise _unavailable("read", key, exc) from exc
        except BotoCoreError as exc:
            raise _unavailable("read", key, exc) from exc
        return StoredObject(size=int(head["ContentLength"]), etag=str(head.get("ETag", "")))

    async def abort(self, bucket: str, key: str, s3_upload_id: str) -> None:
        """Abort the upload and drop its parts; an upload already over is fine."""
        try:
            await asyncio.to_thread(
                self._client().abort_multipart_upload,
                Bucket=bucket,
                Key=key,
                UploadId=s3_upload_id,
            )
        except ClientError as exc:
            if _code(exc) not in _GONE:
                raise _unavailable("abort", key, exc) from exc
        except BotoCoreError as exc:
            raise _unavailable("abort", key, exc) from exc

    async def open_uploads(self, bucket: str, prefix: str) -> list[OpenUpload]:
        """The open multipart uploads whose keys start with `prefix`."""
        try:
            return await asyncio.to_thread(self._list_uploads, bucket, prefix)
        except (BotoCoreError, ClientError) as exc:
            raise _unavailable("list the uploads under", prefix, exc) from exc

    def _list_parts(self, bucket: str, key: str, s3_upload_id: str) -> list[ReceivedPart]:
        pages = self._client().get_paginator("list_parts")
        found: dict[int, ReceivedPart] = {}
        for page in pages.paginate(Bucket=bucket, Key=key, UploadId=s3_upload_id):
            for part in page.get("Parts", []):
                number = int(part["PartNumber"])
                found[number] = ReceivedPart(number, int(part["Size"]), str(part["ETag"]))
        return [found[n] for n in sorted(found)]

    def _list_uploads(self, bucket: str, prefix: str) -> list[OpenUpload]:
        pages = self._client().get_paginator("list_multipart_uploads")
        return [
            OpenUpload(str(u["Key"]), str(u["UploadId"]), u["Initiated"])
            for page in pages.paginate(Bucket=bucket, Prefix=prefix)
            for u in page.get("Uploads", [])
        ]

    async def _call(self, operation: str, **params: Any) -> Any:
        key = str(params.get("Key", ""))
        try:
            return await asyncio.to_thread(getattr(self._client(), operation), **params)
        except (BotoCoreError, ClientError) as exc:
            raise _unavailable(operation.replace("_", " ") + " at", key, exc) from exc

    def _client(self) -> S3Client:
        client = self._s3.client
        if client is None:
            raise StorageUnavailable("the S3 client was not started")
        return client


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _unavailable(what: str, key: str, exc: Exception) -> StorageUnavailable:
    return StorageUnavailable(f"S3 could not {what} {key}: {exc}")
