"""`dicompress migrate-layout` on the real S3 and Postgres: the objects of jobs stored before the
tenant rule (`jobs/{id}/...`, a folder every tenant shared) move under their tenant's prefix,
each copied and checked before its original goes; an object of a job nobody knows stays; a
second run finds nothing left to do; and the API signs a recorded legacy key where it lives now
(issue 16 item 5)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from dicompress_progress.migrate import apply_migrations
from dicompress_schemas.naming import tenant_key
from dicompress_stack.migrate_layout import migrate, owners_in
from dicompress_stack.testing import s3_client

pytestmark = pytest.mark.integration


async def test_legacy_job_objects_move_under_their_tenant(test_env: dict[str, str]) -> None:
    s3, bucket = s3_client(test_env), test_env["S3_BUCKET"]
    acme, other, stray = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    conn = await asyncpg.connect(test_env["DATABASE_URL"])
    try:
        await apply_migrations(conn)
        await conn.executemany(
            "INSERT INTO jobs (job_id, tenant, status) VALUES ($1, $2, 'completed')",
            [(acme, "acme"), (other, "other-clinic")],
        )
    finally:
        await conn.close()
    legacy = {
        f"jobs/{acme}/slices/00000.dcm": b"acme slice 0",
        f"jobs/{acme}/slices/00001.dcm": b"acme slice 1",
        f"jobs/{acme}/attempts/1": b"worker-1",
        f"jobs/{other}/slices/00000.dcm": b"other slice 0",
        f"jobs/{stray}/slices/00000.dcm": b"nobody knows whose",
    }
    for key, data in legacy.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    owners = owners_in(test_env["DATABASE_URL"])

    # the CLI's own way: synchronous, its database read in a loop of its own
    dry = await asyncio.to_thread(migrate, s3, bucket, owners, dry_run=True)
    assert (dry.moved, dry.unknown) == (4, [f"jobs/{stray}/slices/00000.dcm"])
    assert s3.get_object(Bucket=bucket, Key=f"jobs/{acme}/attempts/1")["Body"].read()  # untouched

    moved = await asyncio.to_thread(migrate, s3, bucket, owners)
    assert (moved.moved, moved.already) == (4, 0)
    for key, data in legacy.items():
        tenant = {acme: "acme", other: "other-clinic"}.get(uuid.UUID(key.split("/")[1]))
        if tenant is None:  # left where it was, reported
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
            continue
        assert tenant_key(tenant, key) == f"{tenant}/{key}"
        assert s3.get_object(Bucket=bucket, Key=f"{tenant}/{key}")["Body"].read() == data
        with pytest.raises(s3.exceptions.NoSuchKey):
            s3.get_object(Bucket=bucket, Key=key)
    again = await asyncio.to_thread(migrate, s3, bucket, owners)
    assert (again.moved, again.already, len(again.unknown)) == (0, 0, 1)
