"""`dicompress upload` against a real API process and the real S3 and broker: a folder zipped
on the fly and a .zip file, each interrupted after its first part and resumed by running the
command again (only the missing parts are sent, the stored object is the very ZIP), and the
streamed path."""

from __future__ import annotations

import argparse
import io
import os
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from api_live import end_offsets

from dicompress_infra.auth import issue_token
from dicompress_stack import upload_transfer
from dicompress_stack.client import ClientError
from dicompress_stack.folder_zip import folder_members, zip_stream
from dicompress_stack.testing import ServiceRunner, s3_client
from dicompress_stack.upload import run_upload

pytestmark = pytest.mark.integration

PART = 5 * 1024 * 1024


def args(path: Path, *, stream: bool = False) -> argparse.Namespace:
    return argparse.Namespace(
        path=path, stream=stream, no_follow=True, no_products=True, timeout=60.0
    )


def make_study(root: Path) -> Path:
    for series in ("s1", "s2"):
        (root / series).mkdir(parents=True)
        for index in range(3):
            (root / series / f"{index}.dcm").write_bytes(os.urandom(2 * 1024 * 1024))
    (root / "DICOMDIR").write_bytes(b"d" * 1000)
    return root


def stored(env: dict[str, str], key: str) -> bytes:
    client = s3_client(env)
    try:
        return client.get_object(Bucket=env["S3_BUCKET"], Key=key)["Body"].read()
    finally:
        client.close()


PUT_PART = upload_transfer.put_part


class Interrupted:
    """put_part that fails for good (S3 out of reach) before part `after + 1`. (Not a
    KeyboardInterrupt: asyncio re-raises that out of the test's event loop.)"""

    def __init__(self, after: int) -> None:
        self.after = after
        self.calls = 0

    def __call__(self, *a: Any, **kw: Any) -> None:
        self.calls += 1
        if self.calls > self.after:
            raise ClientError("cannot reach S3: the test pulled the cable")
        PUT_PART(*a, **kw)


def upload_twice(
    api_url: str, token: str, path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], int, str]:
    """Upload `path`, interrupted after one part, then again: (answer, parts sent the second
    time, what the second run said on stderr)."""
    environ = {"XDG_CACHE_HOME": env["cache"]}
    first = Interrupted(after=1)
    monkeypatch.setattr(upload_transfer, "put_part", first)
    with pytest.raises(ClientError, match="pulled the cable"):
        run_upload(api_url, token, args(path), err=io.StringIO(), environ=environ)
    second = Interrupted(after=100)
    monkeypatch.setattr(upload_transfer, "put_part", second)
    out, err = io.StringIO(), io.StringIO()
    assert run_upload(api_url, token, args(path), out=out, err=err, environ=environ) == 0
    line = out.getvalue().splitlines()[0]
    upload_id = line.split(" as upload ")[1].split(";")[0]
    ingest_id = line.rsplit("ingest ", 1)[1]
    answer = {"uploadId": upload_id, "ingestId": ingest_id}
    return answer, second.calls, err.getvalue()


async def test_upload_resumes_a_folder_and_a_zip_and_streams(
    service_runner: ServiceRunner,
    test_env: dict[str, str],
    database: asyncpg.Connection[Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {**test_env, "cache": str(tmp_path / "cache")}
    api = service_runner.start(
        "api",
        env={
            "API_ALLOWED_BUCKETS": test_env["S3_BUCKET"],
            "API_UPLOAD_PART_BYTES": str(PART),
            "API_UPLOAD_STREAM_PART_BYTES": str(PART),
        },
    )
    token = issue_token(test_env["JWT_SECRET"], "acme", "dicompress")
    root = make_study(tmp_path / "CT study")
    expected = b"".join(zip_stream(folder_members(root)))
    assert len(expected) > 2 * PART  # three parts

    answer, resent, said = upload_twice(api.base_url, token, root, env, monkeypatch)
    assert resent == 2  # parts 2 and 3 only
    assert "resuming upload" in said
    assert "1 of 3 parts already in S3" in said
    key = f"acme/uploads/{answer['uploadId']}/CT_study.zip"
    assert stored(env, key) == expected
    uuid.UUID(answer["ingestId"])
    assert not list((tmp_path / "cache").rglob("*.json"))  # the resume file is gone

    archive = tmp_path / "series.zip"
    archive.write_bytes(expected)
    answer, resent, said = upload_twice(api.base_url, token, archive, env, monkeypatch)
    assert resent == 2
    assert stored(env, f"acme/uploads/{answer['uploadId']}/series.zip") == expected

    out = io.StringIO()
    code = run_upload(
        api.base_url,
        token,
        args(root, stream=True),
        out=out,
        err=io.StringIO(),
        environ={"XDG_CACHE_HOME": env["cache"]},
    )
    assert code == 0
    upload_id = out.getvalue().split(" as upload ")[1].split(";")[0]
    assert stored(env, f"acme/uploads/{upload_id}/CT_study.zip") == expected

    topic = f"{test_env['TOPIC_PREFIX']}ingest.requests"
    assert await end_offsets(test_env["KAFKA_BOOTSTRAP_SERVERS"], topic) == 3
