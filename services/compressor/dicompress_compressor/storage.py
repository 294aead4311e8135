"""The object store the job runner reads slices from and writes artifacts to (S3).

boto3 is synchronous: every call runs in a thread so the event loop keeps consuming and
publishing. The requests made for every slice, and the listings of our own folders, go through
obstore instead (see `FastS3ObjectStore`). The job runner depends on the `ObjectStore`
protocol, not on either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import obstore
from botocore.exceptions import ClientError

from dicompress_infra.s3 import ObstoreBuckets, S3Uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from dicompress_infra.settings import CommonSettings

_MISSING = ("404", "NoSuchKey", "NotFound")


@dataclass(frozen=True)
class SourceObject:
    """One object under a prefix: a slice, we hope (the encoder decides)."""

    bucket: str
    key: str
    size: int


class ObjectStore(Protocol):
    async def list_objects(self, prefix: S3Uri) -> list[SourceObject]: ...

    async def list_ours(self, prefix: S3Uri) -> list[SourceObject]:
        """`list_objects` of a folder only our services write (a job's slices, markers)."""

    async def get_bytes(self, obj: SourceObject) -> bytes: ...

    async def get_range(self, obj: SourceObject, length: int) -> bytes: ...

    async def get_with_metadata(self, uri: S3Uri) -> tuple[bytes, dict[str, str]] | None: ...

    async def head_metadata(self, uri: S3Uri) -> dict[str, str] | None: ...

    async def put_bytes(self, uri: S3Uri, data: bytes, metadata: dict[str, str]) -> None: ...

    async def start_multipart(self, uri: S3Uri, metadata: dict[str, str]) -> str: ...

    async def upload_part(self, uri: S3Uri, upload_id: str, number: int, data: bytes) -> str: ...

    async def complete_multipart(self, uri: S3Uri, upload_id: str, etags: list[str]) -> None: ...

    async def abort_multipart(self, uri: S3Uri, upload_id: str) -> None: ...


class S3ObjectStore:
    """`ObjectStore` on a (thread-safe) boto3 S3 client."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    async def list_objects(self, prefix: S3Uri) -> list[SourceObject]:
        """Every object under the prefix (ListObjectsV2, all pages), folder markers excepted."""
        return await asyncio.to_thread(self._list, prefix)

    async def list_ours(self, prefix: S3Uri) -> list[SourceObject]:
        return await self.list_objects(prefix)

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

    async def get_range(self, obj: SourceObject, length: int) -> bytes:
        """The object's first `length` bytes (all of it when shorter): a DICOM header."""
        return await asyncio.to_thread(self._get_range, obj, length)

    def _get_range(self, obj: SourceObject, length: int) -> bytes:
        ranged = f"bytes=0-{length - 1}"
        return self._client.get_object(Bucket=obj.bucket, Key=obj.key, Range=ranged)["Body"].read()

    async def get_with_metadata(self, uri: S3Uri) -> tuple[bytes, dict[str, str]] | None:
        """A small object and its user metadata, or None when there is no such object."""
        return await asyncio.to_thread(self._get_with_metadata, uri)

    def _get_with_metadata(self, uri: S3Uri) -> tuple[bytes, dict[str, str]] | None:
        try:
            found = self._client.get_object(Bucket=uri.bucket, Key=uri.key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise
        return found["Body"].read(), dict(found.get("Metadata", {}))

    async def head_metadata(self, uri: S3Uri) -> dict[str, str] | None:
        """The object's user metadata, or None when there is no such object."""
        try:
            head = await asyncio.to_thread(self._client.head_object, Bucket=uri.bucket, Key=uri.key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise
        return dict(head.get("Metadata", {}))

    async def put_bytes(self, uri: S3Uri, data: bytes, metadata: dict[str, str]) -> None:
        """One small object (an encoded slice, a marker) in a single PUT: atomic for readers."""
        await asyncio.to_thread(
            self._client.put_object, Bucket=uri.bucket, Key=uri.key, Body=data, Metadata=metadata
        )

    async def start_multipart(self, uri: S3Uri, metadata: dict[str, str]) -> str:
        """Begin a multipart upload of a ZIP; the object appears only once it is completed."""
        started = await asyncio.to_thread(
            self._client.create_multipart_upload,
            Bucket=uri.bucket,
            Key=uri.key,
            Metadata=metadata,
            ContentType="application/zip",
        )
        return started["UploadId"]

    async def upload_part(self, uri: S3Uri, upload_id: str, number: int, data: bytes) -> str:
        """Send part `number` (1-based; >= 5 MiB unless it is the last); return its ETag."""
        sent = await asyncio.to_thread(
            self._client.upload_part,
            Bucket=uri.bucket,
            Key=uri.key,
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
        )
        return sent["ETag"]

    async def complete_multipart(self, uri: S3Uri, upload_id: str, etags: list[str]) -> None:
        parts = [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, start=1)]
        await asyncio.to_thread(
            self._client.complete_multipart_upload,
            Bucket=uri.bucket,
            Key=uri.key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]  # list of dicts
        )

    async def abort_multipart(self, uri: S3Uri, upload_id: str) -> None:
        """Drop the parts sent so far (what a dead worker leaves, a lifecycle rule drops)."""
        await asyncio.to_thread(
            self._client.abort_multipart_upload, Bucket=uri.bucket, Key=uri.key, UploadId=upload_id
        )


class FastS3ObjectStore(S3ObjectStore):
    """`S3ObjectStore` with the requests made once per slice (the source's GET and its header's
    ranged GET, the encoded slice's PUT, and its GET with metadata when a re-run or the owner of
    a split job takes it back) and the listings of our own folders (polled while a split job's
    ranges run) sent by obstore (Rust's object_store), not boto3.

    On two cores every core-second the S3 client spends is taken from the encoders. Measured on
    the embedded S3, 399 GETs of 0.5 MB and 399 PUTs of 5 KB cost this process 2.3 CPU-s through
    boto3 and 0.6 CPU-s through obstore, whose requests run on its own threads, outside the GIL.
    A profile of 4 split studies at once found boto3's GETs with metadata and listings at 40% of
    the service's own CPU (outside its encoder processes). The source's listing, HEADs and the
    ZIP's multipart upload stay on boto3: a few requests per job, and listing a source then
    means exactly what it means to the API's source lister.
    """

    def __init__(self, client: S3Client, settings: CommonSettings) -> None:
        super().__init__(client)
        self._store = ObstoreBuckets(settings)

    async def get_bytes(self, obj: SourceObject) -> bytes:
        try:
            found = await obstore.get_async(self._store(obj.bucket), obj.key)
        except ValueError:
            # object_store refuses some legal S3 keys ('a//b', 'a/./b', control characters)
            # before sending anything; boto3 can still fetch them.
            return await super().get_bytes(obj)
        return bytes(await found.bytes_async())

    async def get_range(self, obj: SourceObject, length: int) -> bytes:
        try:
            found = await obstore.get_range_async(
                self._store(obj.bucket), obj.key, start=0, length=length
            )
        except ValueError:  # a key object_store cannot name, as in get_bytes
            return await super().get_range(obj, length)
        return bytes(found)

    async def get_with_metadata(self, uri: S3Uri) -> tuple[bytes, dict[str, str]] | None:
        # only our slices are read back so, at keys object_store accepts (see put_bytes)
        try:
            found = await obstore.get_async(self._store(uri.bucket), uri.key)
            data = bytes(await found.bytes_async())
        except FileNotFoundError:  # obstore's NotFoundError
            return None
        return data, user_metadata(found.attributes)

    async def list_ours(self, prefix: S3Uri) -> list[SourceObject]:
        listed: list[SourceObject] = []
        async for chunk in obstore.list(self._store(prefix.bucket), prefix.prefix, chunk_size=1000):
            listed.extend(
                SourceObject(prefix.bucket, meta["path"], meta["size"])
                for meta in chunk
                if not meta["path"].endswith("/")
            )
        return listed

    async def put_bytes(self, uri: S3Uri, data: bytes, metadata: dict[str, str]) -> None:
        # Our slice keys are always ones object_store accepts. Its attributes other than the
        # five HTTP headers it names are user metadata (x-amz-meta-*), as with boto3.
        await obstore.put_async(
            self._store(uri.bucket), uri.key, data, attributes=dict(metadata), use_multipart=False
        )


# What object_store reports of an object besides its user metadata (x-amz-meta-*): the HTTP
# headers its `Attribute` names. Every other attribute is user metadata, its prefix stripped.
_HTTP_ATTRIBUTES = frozenset(
    {"Content-Disposition", "Content-Encoding", "Content-Language", "Content-Type", "Cache-Control"}
)


def user_metadata(attributes: Mapping[str, str]) -> dict[str, str]:
    """An object's user metadata from obstore's attributes, as boto3's `Metadata` gives it."""
    return {k: v for k, v in attributes.items() if k not in _HTTP_ATTRIBUTES}
