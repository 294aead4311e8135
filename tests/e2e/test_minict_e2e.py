"""A Mini CT and a range download end to end, every service a real process: a study uploaded,
a region of one of its series asked for through the API (a miss: a job), followed to its end,
asked again (a hit: at once, with a presigned URL), downloaded; its slices hold exactly the
original pixels of the region (lossless), placed where the originals say, which the study's
range download (the originals as a streamed ZIP) gives back byte for byte."""

from __future__ import annotations

import argparse
import io
import json
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pydicom import dcmread

from dicompress_infra.auth import issue_token
from dicompress_schemas import study_id
from dicompress_stack.synthetic_study import StudySpec, write_study
from dicompress_stack.testing import ServiceRunner
from dicompress_stack.upload import run_upload

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

TENANT = "clinic-minict"
SPEC = StudySpec(seed=9, slices=16, size=96, scout_size=64, layout="pacs")
Z0, Z1 = 3, 10
ROI = {"row": 16, "column": 24, "rows": 40, "columns": 48}


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310  # presigned by the API
        data: bytes = response.read()
    return data


def wait_for_job(http: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        job: dict[str, Any] = http.get(f"/jobs/{job_id}").json()
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not end: {job}")


def test_a_region_of_a_series_is_made_once_served_from_cache_and_holds_the_original_pixels(
    service_runner: ServiceRunner, test_env: dict[str, str], tmp_path: Path
) -> None:
    bucket = json.dumps([test_env["S3_BUCKET"]])
    manifest = write_study(SPEC, tmp_path / "export")
    env = {
        "API_ALLOWED_BUCKETS": bucket,
        "INGEST_ALLOWED_BUCKETS": bucket,
        "COMPRESSOR_ALLOWED_BUCKETS": bucket,
    }
    for name in ("progress", "ingest", "compressor"):
        service_runner.start(name, env=env)
    api = service_runner.start("api", env=env)
    token = issue_token(test_env["JWT_SECRET"], TENANT, "dicompress")
    args = argparse.Namespace(
        path=tmp_path / "export", stream=False, no_follow=False, no_products=True, timeout=180
    )
    code = run_upload(
        api.base_url, token, args, out=io.StringIO(), err=io.StringIO(),
        environ={"XDG_CACHE_HOME": str(tmp_path / "cache")},
    )  # fmt: skip
    assert code == 0
    study = str(study_id(TENANT, manifest.study_uid))
    series = manifest.series_by_key("soft").series_uid
    body = {"zStart": Z0, "zEnd": Z1, "roi": ROI}
    with httpx.Client(
        base_url=api.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as http:
        url = f"/studies/{study}/series/{series}/mini-ct"
        miss = http.post(url, json=body)
        assert miss.status_code == 202, miss.text
        job = wait_for_job(http, miss.json()["id"])
        assert job["status"] == "completed", job
        hit = http.post(url, json=body)
        assert hit.status_code == 200, hit.text
        assert hit.json()["id"] == miss.json()["id"]  # the same product, no new job
        archive = zipfile.ZipFile(io.BytesIO(fetch(hit.json()["downloadUrl"])))

        too_far = http.post(url, json={**body, "zEnd": 999})
        assert too_far.status_code == 422
        assert "0..15" in too_far.text  # the valid range, in the answer

        ranged = http.get(
            f"/studies/{study}/download", params={"series": series, "zStart": Z0, "zEnd": Z1}
        )
        assert ranged.status_code == 200, ranged.text
        assert int(ranged.headers["content-length"]) == len(ranged.content)
        originals = zipfile.ZipFile(io.BytesIO(ranged.content))

    sources = sorted(n for n in originals.namelist() if n.endswith(".dcm"))
    slices = sorted(n for n in archive.namelist() if n.endswith(".dcm"))
    assert len(sources) == len(slices) == Z1 - Z0 + 1
    for source_name, slice_name in zip(sources, slices, strict=True):
        source = dcmread(io.BytesIO(originals.read(source_name)))
        mini = dcmread(io.BytesIO(archive.read(slice_name)))
        r, c = ROI["row"], ROI["column"]
        region = source.pixel_array[r : r + ROI["rows"], c : c + ROI["columns"]]
        assert np.array_equal(mini.pixel_array, region), slice_name  # lossless: the same pixels
        row_dir = np.array([float(v) for v in source.ImageOrientationPatient[:3]])
        col_dir = np.array([float(v) for v in source.ImageOrientationPatient[3:]])
        spacing = [float(v) for v in source.PixelSpacing]
        expected = (
            np.array([float(v) for v in source.ImagePositionPatient])
            + c * spacing[1] * row_dir
            + r * spacing[0] * col_dir
        )
        assert np.allclose([float(v) for v in mini.ImagePositionPatient], expected, atol=1e-3)
        assert str(mini.FrameOfReferenceUID) == str(source.FrameOfReferenceUID)
        assert str(mini.SeriesInstanceUID) != str(source.SeriesInstanceUID)
        assert "DERIVED" in mini.ImageType
