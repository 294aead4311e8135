"""The object store the job runner reads slices from and writes artifacts to (S3 via boto3).

boto3 is synchronous: every call runs in a thread so the event loop keeps consuming and
publishing. The job runner depends on the `ObjectStore` protocol, not on boto3.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Protocol

from botocore.exceptions import ClientError

from dicompress_infra.s3 import S3Uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class SourceObject:
    """One object under a job's source prefix: a slice, we hope (the encoder decides)."""

    bucket: str
    key: str
    size: int


class ObjectStore(Protocol):
    async def list_objects(self, prefix: S3Uri) -> list[SourceObject]: ...

    async def get_bytes(self, obj: SourceObject) -> bytes: ...

    async def head_metadata(self, uri: S3Uri) -> dict[str, str] | None: ...

    async def upload(self, uri: S3Uri, body: IO[bytes], metadata: dict[str, str]) -> None: ...


class S3ObjectStore:
    """`ObjectStore` on a (thread-safe) boto3 S3 client."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    async def list_objects(self, prefix: S3Uri) -> list[SourceObject]:
        """Every object under the prefix (ListObjectsV2, all pages), folder markers excepted."""
        return await asyncio.to_thread(self._list, prefix)

    def _list(self, prefix: S3Uri) -> list[SourceObject]:
        paginator = self._client.get_paginator("list_objects_v2")
        found = []
        for page in paginator.paginate(Bucket=prefix.bucket, Prefix=prefix.prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if not key.endswith("/"):  # zero-byte "folder" objects made by consoles
                    found.append(SourceObject(prefix.bucket, key, item.get("Size", 0)))
        return found

    async def get_bytes(self, obj: SourceObject) -> bytes:
        """The whole object (a slice is ~0.5 MB: no need to stream)."""
        return await asyncio.to_thread(self._get, obj)

    def _get(self, obj: SourceObject) -> bytes:
        return self._client.get_object(Bucket=obj.bucket, Key=obj.key)["Body"].read()

    async def head_metadata(self, uri: S3Uri) -> dict[str, str] | None:
        """The object's user metadata, or None when there is no such object."""
        try:
            head = await asyncio.to_thread(self._client.head_object, Bucket=uri.bucket, Key=uri.key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return dict(head.get("Metadata", {}))

    async def upload(self, uri: S3Uri, body: IO[bytes], metadata: dict[str, str]) -> None:
        """Upload from a file object (multipart when large) with user metadata."""
        await asyncio.to_thread(
            self._client.upload_fileobj,
            body,
            uri.bucket,
            uri.key,
            ExtraArgs={"Metadata": metadata, "ContentType": "application/zip"},
        )
