"""Cancel, slices, download and the job list against the real broker, Postgres and S3.

Rows are inserted where the progress service would project them; objects are put where the
compressor would store them.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from api_live import bearer, read_request

from dicompress_api.settings import ApiSettings
from dicompress_infra.s3 import make_s3_client
from dicompress_schemas.commands import CancelRequested, decode_command

pytestmark = pytest.mark.integration

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


async def insert_job(
    conn: asyncpg.Connection[Any], tenant: str = "acme", **fields: Any
) -> uuid.UUID:
    values = {
        "job_id": uuid.uuid4(),
        "tenant": tenant,
        "status": "running",
        "codec": "j2k-lossy",
        "requested_at": T0,
        **fields,
    }
    columns = ", ".join(values)
    marks = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    await conn.execute(f"INSERT INTO jobs ({columns}) VALUES ({marks})", *values.values())  # noqa: S608 - test's own column names
    job_id: uuid.UUID = values["job_id"]
    return job_id


def put_object(settings: ApiSettings, bucket: str, key: str, data: bytes) -> None:
    client = make_s3_client(settings)
    try:
        client.put_object(Bucket=bucket, Key=key, Body=data)
    finally:
        client.close()


async def fetch(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.get(url)


async def test_cancel_puts_a_decodable_command_on_the_control_topic(
    api: httpx.AsyncClient, settings: ApiSettings, database: asyncpg.Connection[Any]
) -> None:
    job_id = await insert_job(database)
    response = await api.post(
        f"/jobs/{job_id}/cancel", json={"reason": "wrong patient"}, headers=bearer(settings, "acme")
    )
    assert response.status_code == 202, response.text
    record, command = await read_request(
        settings.kafka_bootstrap_servers, settings.topics.control, job_id, decode_command
    )
    assert isinstance(command, CancelRequested)
    assert str(command.command_id) == response.json()["commandId"]
    assert (command.job_id, command.tenant, command.reason) == (job_id, "acme", "wrong patient")
    assert dict(record.headers)["type"] == b"CancelRequested"

    done = await insert_job(database, status="cancelled")
    refused = await api.post(f"/jobs/{done}/cancel", headers=bearer(settings, "acme"))
    assert refused.status_code == 409, refused.text
    foreign = await api.post(f"/jobs/{job_id}/cancel", headers=bearer(settings, "globex"))
    assert foreign.status_code == 404, foreign.text


async def test_slice_urls_fetch_the_stored_slices(
    api: httpx.AsyncClient,
    settings: ApiSettings,
    database: asyncpg.Connection[Any],
    test_env: dict[str, str],
) -> None:
    bucket = test_env["S3_BUCKET"]
    job_id = await insert_job(database, target_uri=f"s3://{bucket}/out", slices_total=3)
    key = f"acme/jobs/{job_id}/slices/00000.dcm"  # the compressor's layout: under the tenant
    await asyncio.to_thread(put_object, settings, bucket, key, b"DICM slice zero")
    slices = [
        (0, "encoded", key, 42.5, None),
        (2, "failed", None, None, "decode_error"),
    ]
    for index, status, slice_key, psnr, error in slices:
        await database.execute(
            """INSERT INTO job_slices (job_id, slice_index, seq, status, source_key, slice_key,
                                       psnr_db, error_code, bytes_in, bytes_out, ratio, occurred_at)
               VALUES ($1, $2, $2 + 2, $3, 'in/x', $4, $5, $6, 1000, 100, 10, $7)""",
            job_id,
            index,
            status,
            slice_key,
            psnr,
            error,
            T0,
        )
    response = await api.get(f"/jobs/{job_id}/slices", headers=bearer(settings, "acme"))
    assert response.status_code == 200, response.text
    listed = response.json()
    assert listed["slicesTotal"] == 3
    encoded, failed = listed["slices"]
    assert (encoded["index"], encoded["psnrDb"], encoded["ratio"]) == (0, 42.5, 10)
    assert (failed["index"], failed["errorCode"], failed["url"]) == (2, "decode_error", None)
    got = await fetch(encoded["url"])
    assert got.status_code == 200, got.text
    assert got.content == b"DICM slice zero"
    foreign = await api.get(f"/jobs/{job_id}/slices", headers=bearer(settings, "globex"))
    assert foreign.status_code == 404


async def test_download_redirects_to_the_zip(
    api: httpx.AsyncClient,
    settings: ApiSettings,
    database: asyncpg.Connection[Any],
    test_env: dict[str, str],
) -> None:
    bucket = test_env["S3_BUCKET"]
    zip_bytes = b"PK\x03\x04 not really a zip"
    await asyncio.to_thread(put_object, settings, bucket, "out/ct1.zip", zip_bytes)
    job_id = await insert_job(
        database, status="completed", artifact_uri=f"s3://{bucket}/out/ct1.zip"
    )
    response = await api.get(f"/jobs/{job_id}/download", headers=bearer(settings, "acme"))
    assert response.status_code == 307, response.text
    got = await fetch(response.headers["location"])
    assert got.status_code == 200, got.text
    assert got.content == zip_bytes

    running = await insert_job(database)
    conflict = await api.get(f"/jobs/{running}/download", headers=bearer(settings, "acme"))
    assert conflict.status_code == 409
    assert conflict.json()["jobStatus"] == "running"


async def test_job_list_pages_are_complete_stable_and_tenant_scoped(
    api: httpx.AsyncClient, settings: ApiSettings, database: asyncpg.Connection[Any]
) -> None:
    # Ties in requested_at on purpose: the job id breaks them, so pages never overlap.
    mine = {
        await insert_job(database, requested_at=T0 + timedelta(seconds=i // 3)) for i in range(13)
    }
    mine.add(await insert_job(database, requested_at=None, status="failed"))
    theirs = {await insert_job(database, tenant="globex") for _ in range(4)}
    auth = bearer(settings, "acme")

    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(10):
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        response = await api.get("/jobs", params=params, headers=auth)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += page["items"]
        # A job submitted while paging lands on top and shifts nothing below the cursor.
        await insert_job(database, requested_at=T0 + timedelta(days=1))
        cursor = page["nextCursor"]
        if cursor is None:
            break
    ids = [uuid.UUID(item["jobId"]) for item in seen]
    assert len(ids) == len(set(ids))
    assert set(ids) == mine
    assert not set(ids) & theirs
    assert seen[-1]["status"] == "failed"  # never-requested sorts last
    times = [item["timestamps"]["requestedAt"] for item in seen[:-1]]
    assert times == sorted(times, reverse=True)

    failed = await api.get("/jobs", params={"status": "failed"}, headers=auth)
    assert [item["jobId"] for item in failed.json()["items"]] == [seen[-1]["jobId"]]
