"""Attempt markers in S3 through a boto3 client: the I/O of the contract's attempts rule
(`dicompress_schemas.attempts`) for the workers that use boto3 directly (the ingest, the
renderer). Synchronous, as boto3 is: call it from a worker thread."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dicompress_schemas.attempts import (
    Attempt,
    AttemptMarker,
    decode_marker,
    encode_marker,
    next_attempt,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def register_attempt(
    client: S3Client, bucket: str, folder: str, worker: str, ceiling: int | None = None
) -> Attempt:
    """This run's number and floor, from the markers the earlier runs left under `folder` (a
    GET each: a job has a few); then this run's own marker, with its `ceiling` when the run
    knows it already (else `write_marker` again with it, before its first event but a failure
    at seq 1)."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder)
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    earlier = [
        decode_marker(client.get_object(Bucket=bucket, Key=key)["Body"].read()) for key in keys
    ]
    attempt = next_attempt(earlier)
    write_marker(client, bucket, folder, attempt.number, AttemptMarker(worker, ceiling))
    return attempt


def write_marker(
    client: S3Client, bucket: str, folder: str, number: int, marker: AttemptMarker
) -> None:
    """Write run `number`'s marker (one PUT: readers see the old body or the new one)."""
    client.put_object(
        Bucket=bucket,
        Key=f"{folder}{number}",
        Body=encode_marker(marker),
        ContentType="application/json",
    )
