"""Buckets on the embedded S3, made through the same client factory the services use."""

from __future__ import annotations

from botocore.exceptions import ClientError

from dicompress_infra.s3 import make_s3_client
from dicompress_infra.settings import CommonSettings


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
