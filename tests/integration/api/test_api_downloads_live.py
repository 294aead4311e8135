"""GET /studies/{id}/download on the real backends: a study projected into Postgres by the real
projection, its objects in the real S3, the API as its own process; a 50-slice range of a series
streamed over HTTP arrives as a ZIP of exactly Content-Length bytes with every file intact, in
anatomical order."""

from __future__ import annotations

import asyncio
import io
import json
import random
import zipfile
from typing import Any

import asyncpg
import httpx
import pytest

from dicompress_api.settings import ApiSettings
from dicompress_infra.auth import issue_token
from dicompress_infra.s3 import make_s3_client
from dicompress_progress.store import Delivered, ProjectionStore
from dicompress_schemas import study_id
from dicompress_schemas.histories.ingests import AXIAL, STUDY, IngestHistory
from dicompress_stack.testing import ServiceRunner

pytestmark = pytest.mark.integration

SLICES = 60
FIRST, LAST = 5, 54  # a range of 50 slices


def _slice_bytes(z_index: int) -> bytes:
    """A distinct object of 20-60 KB for the slice at anatomical index `z_index`."""
    rng = random.Random(z_index)  # noqa: S311 - test data
    return b"DICM" + rng.randbytes(rng.randrange(20_000, 60_000))


def _put(settings: ApiSettings, bucket: str, objects: dict[str, bytes]) -> None:
    client = make_s3_client(settings)
    try:
        for key, data in objects.items():
            client.put_object(Bucket=bucket, Key=key, Body=data)
    finally:
        client.close()


async def test_a_range_of_fifty_slices_streams_intact_with_its_length(
    database: asyncpg.Connection[Any],
    settings: ApiSettings,
    test_env: dict[str, str],
    service_runner: ServiceRunner,
) -> None:
    bucket = test_env["S3_BUCKET"]
    history = IngestHistory("acme", bucket=bucket)
    order = list(range(SLICES))
    random.Random(3).shuffle(order)  # noqa: S311 - stored out of anatomical order
    events: list[Any] = [history.uploaded(), history.started()]
    objects: dict[str, bytes] = {}
    key_of: dict[int, str] = {}
    for number, z_index in enumerate(order, start=1):
        data = _slice_bytes(z_index)
        event = history.image(z=1.25 * z_index - 30.0, number=number, bytes=len(data))
        objects[event.key] = data
        key_of[z_index] = event.key
        events.append(event)
    events.append(history.completed())
    pool = await asyncpg.create_pool(test_env["DATABASE_URL"], min_size=1, max_size=2)
    try:
        await ProjectionStore(pool).record([Delivered(e) for e in events])
    finally:
        await pool.close()
    await asyncio.to_thread(_put, settings, bucket, objects)
    api = service_runner.start("api", env={"API_ALLOWED_BUCKETS": json.dumps([bucket])})

    sid = study_id("acme", STUDY)
    url = f"{api.base_url}/studies/{sid}/download"
    token = issue_token(test_env["JWT_SECRET"], "acme", settings.jwt_audience)
    auth = {"Authorization": f"Bearer {token}"}
    received = io.BytesIO()
    chunks = 0
    async with (
        httpx.AsyncClient(timeout=60) as client,
        client.stream(
            "GET", url, params={"series": AXIAL, "zStart": FIRST, "zEnd": LAST}, headers=auth
        ) as answer,
    ):
        assert answer.status_code == 200, await answer.aread()
        length = int(answer.headers["content-length"])
        async for chunk in answer.aiter_raw():
            received.write(chunk)
            chunks += 1
    assert received.tell() == length
    assert chunks > 1  # streamed, not sent in one piece
    archive = zipfile.ZipFile(received)
    assert archive.testzip() is None
    names = [f"{AXIAL}/{i:05d}.dcm" for i in range(FIRST, LAST + 1)]
    assert archive.namelist() == names
    for name, z_index in zip(names, range(FIRST, LAST + 1), strict=True):
        assert archive.read(name) == objects[key_of[z_index]], name

    async with httpx.AsyncClient(timeout=30) as client:
        foreign = issue_token(test_env["JWT_SECRET"], "globex", settings.jwt_audience)
        theirs = await client.get(url, headers={"Authorization": f"Bearer {foreign}"})
        assert theirs.status_code == 404, theirs.text
        past = await client.get(url, params={"series": AXIAL, "zEnd": SLICES}, headers=auth)
        assert past.status_code == 422
        assert f"valid 0..{SLICES - 1}" in past.json()["detail"]
