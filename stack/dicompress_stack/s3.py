"""An embedded S3: moto's S3 server in a subprocess (in memory, no signature checks)."""

from __future__ import annotations

import sys
from pathlib import Path

from botocore.exceptions import ClientError

from dicompress_infra.s3 import make_s3_client
from dicompress_infra.settings import CommonSettings
from dicompress_stack import s3_server
from dicompress_stack.net import http_ok
from dicompress_stack.processes import Supervised, start_process

READY_TIMEOUT_S = 60.0


def start_s3(s3_dir: Path, port: int) -> Supervised:
    """Start moto on 127.0.0.1:`port` and wait until it answers."""
    url = f"http://127.0.0.1:{port}/"
    server = start_process(
        "s3",
        [sys.executable, "-m", s3_server.MARKER, "-H", "127.0.0.1", "-p", str(port)],
        s3_dir / "s3.log",
    )
    try:
        server.wait_ready(lambda: http_ok(url), f"GET {url} answered 200", READY_TIMEOUT_S)
    except BaseException:
        server.stop()
        raise
    return server


def s3_settings(endpoint_url: str, access_key: str, secret_key: str) -> CommonSettings:
    """Just enough settings for `make_s3_client`."""
    return CommonSettings(
        s3_endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
    )


def create_bucket(endpoint_url: str, access_key: str, secret_key: str, bucket: str) -> None:
    """Create `bucket` unless we already own it."""
    client = make_s3_client(s3_settings(endpoint_url, access_key, secret_key))
    try:
        client.create_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in (
            "BucketAlreadyOwnedByYou",
            "BucketAlreadyExists",
        ):
            raise
