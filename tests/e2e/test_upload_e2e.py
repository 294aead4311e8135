"""`dicompress upload` through the whole path, every service a real process: the API takes
the upload, the ingest service unpacks it, the progress worker indexes it, and the CLI prints
the study. The same synthetic study sent three ways (a folder by presigned parts, interrupted
after its first part and resumed; the folder streamed through the API; the scanner's own ZIP by
presigned parts) gives the same study each time."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from dicompress_infra.auth import issue_token
from dicompress_schemas import study_id
from dicompress_stack import upload_transfer
from dicompress_stack.client import ClientError
from dicompress_stack.synthetic_study import StudySpec, write_study, write_study_zip
from dicompress_stack.testing import ServiceRunner
from dicompress_stack.upload import run_upload

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

PART = 5 * 1024 * 1024
SPEC = StudySpec(
    seed=3, slices=24, size=512, bad_members=True, uuid_names=("soft",), jpeg_lossless=("bone",)
)
PUT_PART = upload_transfer.put_part


def upload(api_url: str, token: str, path: Path, cache: Path, *, stream: bool = False) -> str:
    """Run the command to the end; what it printed on stdout."""
    out = io.StringIO()
    args = argparse.Namespace(
        path=path, stream=stream, no_follow=False, no_products=True, timeout=180.0
    )
    code = run_upload(
        api_url, token, args, out=out, err=io.StringIO(), environ={"XDG_CACHE_HOME": str(cache)}
    )
    assert code == 0, out.getvalue()
    return out.getvalue()


async def test_a_study_uploaded_three_ways_is_the_same_study(
    service_runner: ServiceRunner,
    test_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = test_env["S3_BUCKET"]
    manifest = write_study(SPEC, tmp_path / "study")
    write_study_zip(SPEC, tmp_path / "study.zip")
    extra = {
        "API_ALLOWED_BUCKETS": json.dumps([bucket]),
        "INGEST_ALLOWED_BUCKETS": json.dumps([bucket]),
        "API_UPLOAD_PART_BYTES": str(PART),
    }
    for name in ("progress", "ingest"):
        service_runner.start(name, env=extra)
    api = service_runner.start("api", env=extra)
    token = issue_token(test_env["JWT_SECRET"], "clinic-up", "dicompress")
    cache = tmp_path / "cache"

    # A folder, interrupted after its first part, then the same command again.
    calls = 0

    def cut_after_one(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise ClientError("cannot reach S3: cable pulled")
        PUT_PART(*args, **kwargs)

    monkeypatch.setattr(upload_transfer, "put_part", cut_after_one)
    with pytest.raises(ClientError, match="run the same command again to resume"):
        upload(api.base_url, token, tmp_path / "study", cache)
    monkeypatch.setattr(upload_transfer, "put_part", PUT_PART)
    resumed = upload(api.base_url, token, tmp_path / "study", cache)
    streamed = upload(api.base_url, token, tmp_path / "study", cache, stream=True)
    zipped = upload(api.base_url, token, tmp_path / "study.zip", cache)

    study = str(study_id("clinic-up", manifest.study_uid))
    soft, bone = manifest.series_by_key("soft"), manifest.series_by_key("bone")
    for report in (resumed, streamed, zipped):
        assert f"study {study} " in report, report
        assert f": {len(soft.anatomical_order)} images" in report
        assert f": {len(bone.anatomical_order)} images" in report
        assert "README.txt: " in report  # the non-DICOM member, rejected with its reason
        assert "non-image objects" in report
    # Each report describes the same study the same way (its first line names the ingest).
    assert len({_study_part(r) for r in (resumed, streamed, zipped)}) == 1

    async with httpx.AsyncClient(
        base_url=api.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        detail = (await http.get(f"/studies/{study}")).json()
        listed = (await http.get("/studies")).json()["items"]
    assert [s["id"] for s in listed] == [study]
    counts = {s["seriesInstanceUid"]: s["imageCount"] for s in detail["series"]}
    assert counts[soft.series_uid] == len(soft.anatomical_order)
    assert counts[bone.series_uid] == len(bone.anatomical_order)
    assert len(detail["ingests"]) == 3
    await asyncio.sleep(0)


def _study_part(report: str) -> str:
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("study "))
    end = next(i for i, line in enumerate(lines) if line.startswith("rejected"))
    return "\n".join(lines[start:end])
