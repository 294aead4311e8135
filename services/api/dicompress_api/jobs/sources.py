"""What a job's source prefix holds (file count and total size), read from S3 at submission.

Listing answers the caller at once with what the job will read, and refuses a prefix with no
objects (a typo in the URI) before anything is published. boto3 is synchronous, so the listing
runs in a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from dicompress_api.adapters.s3client import S3Connection
from dicompress_api.web.camel import CAMEL
from dicompress_api.web.errors import FieldProblem, InvalidRequest, StoreUnavailable
from dicompress_infra.s3 import S3Uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# S3 answers that mean "this URI is wrong" (422), not "S3 is away" (503).
_CALLER_ERRORS = frozenset({"NoSuchBucket", "AccessDenied", "AllAccessDisabled"})
_PROBE_TIMEOUT_S = 3.0


class SourceInfo(BaseModel):
    """The objects under the source prefix when the job was submitted."""

    model_config = CAMEL

    file_count: int
    total_bytes: int


class S3Sources:
    """Lists source prefixes with the process's S3 client."""

    def __init__(self, s3: S3Connection, buckets: Sequence[str]) -> None:
        self._s3 = s3
        self._buckets = list(buckets)

    async def start(self) -> None:
        await self._s3.start()

    async def close(self) -> None:
        await self._s3.close()

    async def problem(self) -> str | None:
        """None when every allowed bucket answers a HEAD, else what is wrong (for /readyz)."""
        client = self._s3.client
        if client is None:
            return "s3: not started"
        try:
            async with asyncio.timeout(_PROBE_TIMEOUT_S):
                for bucket in self._buckets:
                    await asyncio.to_thread(client.head_bucket, Bucket=bucket)
        except (TimeoutError, ClientError, BotoCoreError) as exc:
            return f"s3: {type(exc).__name__}: {exc}"
        return None

    async def inspect(self, uri: S3Uri, field: str) -> SourceInfo:
        """Count and size the objects under `uri` (as a folder); 422 on `field` if there are
        none or the bucket cannot be read, StoreUnavailable (503) if S3 does not answer."""
        client = self._s3.client
        if client is None:
            raise StoreUnavailable("the S3 client was not started")
        try:
            count, size = await asyncio.to_thread(_list, client, uri)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in _CALLER_ERRORS:
                raise StoreUnavailable(f"S3 refused to list {uri}: {code}") from exc
            raise InvalidRequest([FieldProblem(field, "s3_unreadable", f"{code}: {uri}")]) from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(f"S3 did not answer: {exc}") from exc
        if count == 0:
            detail = f"no objects under {uri.bucket}/{uri.prefix}: check the prefix"
            raise InvalidRequest([FieldProblem(field, "no_objects", detail)])
        return SourceInfo(file_count=count, total_bytes=size)


def _list(client: S3Client, uri: S3Uri) -> tuple[int, int]:
    count = size = 0
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=uri.bucket, Prefix=uri.prefix)
    for page in pages:
        for item in page.get("Contents", ()):
            if not item["Key"].endswith("/"):  # folder markers are not files
                count += 1
                size += item.get("Size", 0)
    return count, size
