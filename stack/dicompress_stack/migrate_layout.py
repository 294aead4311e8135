"""`dicompress migrate-layout`: move the objects of jobs stored before the tenant rule (in a
`jobs/{id}/` folder every tenant shared) under their tenant's prefix, `{tenant}/jobs/{id}/`.

Run once after upgrading. The recorded slice keys (events, projection) are history and stay as
they are: readers map a legacy key to where it lives now with the contract's `tenant_key`, the
one rule. Each object is copied, the copy checked (same size and ETag), and only then the
original deleted, so a run stopped half-way loses nothing and a second run finishes the job
(copies already made are checked again, not made twice). An object whose job the projection
does not know is left where it is and reported: nobody can tell whose it is.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import asyncpg

from dicompress_schemas.naming import LEGACY_JOBS_FOLDER, tenant_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_JOB_KEY = re.compile(rf"^{LEGACY_JOBS_FOLDER}(?P<job>[0-9a-f-]{{36}})/")


@dataclass
class Moved:
    """What a run did: objects moved, already in place, and left for want of an owner."""

    moved: int = 0
    already: int = 0
    unknown: list[str] = field(default_factory=list)


def legacy_keys(client: S3Client, bucket: str) -> Iterator[tuple[str, int, str]]:
    """(key, size, etag) of every object in the shared legacy folder."""
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=LEGACY_JOBS_FOLDER
    )
    for page in pages:
        for item in page.get("Contents", []):
            yield item["Key"], item["Size"], item["ETag"]


def migrate(
    client: S3Client,
    bucket: str,
    owners: Callable[[list[uuid.UUID]], Mapping[uuid.UUID, str]],
    *,
    dry_run: bool = False,
) -> Moved:
    """Move `bucket`'s legacy job objects under their tenants (`owners`: job id -> tenant,
    from the projection)."""
    found = list(legacy_keys(client, bucket))
    ids = {m.group("job") for key, _, _ in found if (m := _JOB_KEY.match(key))}
    tenants = owners([uuid.UUID(i) for i in sorted(ids)])
    moved = Moved()
    for key, size, etag in found:
        match = _JOB_KEY.match(key)
        tenant = tenants.get(uuid.UUID(match.group("job"))) if match else None
        if tenant is None:
            moved.unknown.append(key)
            continue
        target = tenant_key(tenant, key)
        if dry_run:
            moved.moved += 1
            continue
        if _same(client, bucket, target, size, etag):
            moved.already += 1
        else:
            client.copy_object(
                Bucket=bucket,
                Key=target,
                CopySource={"Bucket": bucket, "Key": key},
                MetadataDirective="COPY",
            )
            if not _same(client, bucket, target, size, etag):
                raise RuntimeError(f"the copy of s3://{bucket}/{key} does not match it")
            moved.moved += 1
        client.delete_object(Bucket=bucket, Key=key)
    return moved


def owners_in(database_url: str) -> Callable[[list[uuid.UUID]], Mapping[uuid.UUID, str]]:
    """job id -> tenant, read from the projection's `jobs` table at `database_url`."""

    def owners(job_ids: list[uuid.UUID]) -> Mapping[uuid.UUID, str]:
        async def read() -> dict[uuid.UUID, str]:
            conn = await asyncpg.connect(database_url)
            try:
                rows = await conn.fetch(
                    "SELECT job_id, tenant FROM jobs WHERE job_id = ANY($1::uuid[])", job_ids
                )
            finally:
                await conn.close()
            return {row["job_id"]: row["tenant"] for row in rows}

        return asyncio.run(read())

    return owners


def _same(client: S3Client, bucket: str, key: str, size: int, etag: str) -> bool:
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except client.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    # a multipart object's copy is one part: its ETag differs, its size may not
    return bool(head["ContentLength"] == size and ("-" in etag or head["ETag"] == etag))
