"""The demo path, end to end, with every service a real process on the real backends:
submit a 20-slice series through the API; a WebSocket client sees JobStarted, 20 SliceEncoded and
JobCompleted in order; the ZIP in S3 holds 20 decodable JPEG 2000 DICOM files at the requested
ratio; the projection says completed 20/20."""

from __future__ import annotations

import asyncio
import io
import json
import re
import zipfile
from typing import Any

import asyncpg
import httpx
import pydicom
import pytest
from pydicom.encaps import generate_frames
from websockets.asyncio.client import connect

from dicompress_infra.auth import issue_token
from dicompress_stack.synthetic_ct import generate_series
from dicompress_stack.testing import s3_client

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SLICES = 20
RATE = 10.0
J2K_LOSSY = "1.2.840.10008.1.2.4.91"


async def _collect(ws_url: str, token: str, job_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with connect(ws_url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        await ws.send(json.dumps({"op": "subscribe", "job_id": job_id, "since_seq": -1}))
        async with asyncio.timeout(180):
            async for frame in ws:
                message = json.loads(frame)
                assert message.get("op") != "error", message
                if message.get("op") == "event":
                    events.append(message["event"])
                    if message["event"]["type"] in ("JobCompleted", "JobFailed"):
                        return events
    raise AssertionError(f"stream ended before the job did: {[e['type'] for e in events]}")


def _measured_ratio(ds: pydicom.Dataset) -> float:
    codestream = sum(len(f) for f in generate_frames(ds.PixelData, number_of_frames=1))
    pixel_bytes = ds.Rows * ds.Columns * ds.SamplesPerPixel * ds.BitsAllocated // 8
    return float(pixel_bytes / codestream)


async def test_series_travels_the_whole_pipeline(
    test_env: dict[str, str], service_runner: Any
) -> None:
    bucket = test_env["S3_BUCKET"]
    s3 = s3_client(test_env)
    for name, data in generate_series(n_slices=SLICES, seed=7):
        s3.put_object(Bucket=bucket, Key=f"clinic-e2e/studies/ct-1/{name}", Body=data)

    extra = {
        "API_ALLOWED_BUCKETS": json.dumps([bucket]),
        "COMPRESSOR_ALLOWED_BUCKETS": json.dumps([bucket]),
        "COMPRESSOR_PROCESSES": "2",
    }
    for name in ("progress", "compressor", "notifier"):
        service_runner.start(name, env=extra)
    notifier = service_runner.started[-1]
    api = service_runner.start("api", env=extra)

    token = issue_token(test_env["JWT_SECRET"], "clinic-e2e", "dicompress")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=api.base_url, headers=headers, timeout=30) as http:
        answer = await http.post(
            "/jobs",
            json={
                "s3SourceUri": f"s3://{bucket}/clinic-e2e/studies/ct-1/",
                "s3TargetUri": f"s3://{bucket}/clinic-e2e/previews/",
                "compressionRate": RATE,
            },
        )
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["jobId"]

        events = await _collect(notifier.ws_url, token, job_id)

        # In order, no gap, no duplicate: request 0, start 1, slices 2..21, completion 22.
        assert [e["seq"] for e in events] == list(range(SLICES + 3))
        kinds = [e["type"] for e in events]
        assert kinds == ["CompressionRequested", "JobStarted"] + ["SliceEncoded"] * SLICES + [
            "JobCompleted"
        ]
        assert {e["job_id"] for e in events} == {job_id}
        slices = events[2:-1]
        assert [e["slice_index"] for e in slices] == list(range(SLICES))
        done = events[-1]
        assert done["slices_encoded"] == SLICES
        assert done["slices_failed"] == 0
        assert abs(done["ratio"] - RATE) / RATE < 0.15, done["ratio"]

        # The artifact: 20 DICOM files, lossy JPEG 2000, each within 15% of the asked ratio,
        # and the manifest, named `{folder}-rate{rate}-{UTC start}.zip` by default.
        artifact = done["artifact_uri"]
        pattern = rf"s3://{bucket}/clinic-e2e/previews/ct-1-rate10-\d{{8}}-\d{{6}}\.zip"
        assert re.fullmatch(pattern, artifact)
        key = artifact.removeprefix(f"s3://{bucket}/")
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert len(body) == done["artifact_bytes"]
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            assert archive.namelist()[-1] == "manifest.json"
            names = archive.namelist()[:-1]
            assert len(names) == SLICES
            assert len(set(names)) == SLICES
            for name in names:
                ds = pydicom.dcmread(io.BytesIO(archive.read(name)))
                assert ds.file_meta.TransferSyntaxUID == J2K_LOSSY
                assert ds.pixel_array.shape == (512, 512)
                assert ds.LossyImageCompression == "01"
                assert abs(_measured_ratio(ds) - RATE) / RATE < 0.15, name

        # The projection, through the API and in Postgres itself.
        async with asyncio.timeout(20):
            # polling an HTTP endpoint: there is no event to wait on
            while (view := (await http.get(f"/jobs/{job_id}")).json())["status"] != "completed":  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        assert view["slicesDone"] == SLICES
        assert view["slicesTotal"] == SLICES

    conn = await asyncpg.connect(test_env["DATABASE_URL"])
    try:
        row = await conn.fetchrow(
            "SELECT status, slices_done, slices_total, slices_failed, tenant FROM jobs"
            " WHERE job_id = $1",
            job_id,
        )
        events_recorded = await conn.fetchval(
            "SELECT count(*) FROM job_events WHERE job_id = $1", job_id
        )
    finally:
        await conn.close()
    assert row is not None
    assert dict(row) == {
        "status": "completed",
        "slices_done": SLICES,
        "slices_total": SLICES,
        "slices_failed": 0,
        "tenant": "clinic-e2e",
    }
    assert events_recorded == SLICES + 3
