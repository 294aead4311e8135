"""S3 for the ingest service (boto3, synchronous: the ingest runs in a worker thread).

Instances are written at content-derived keys with their SHA-256 in the object's metadata; a
re-run after a crash finds the same bytes already there and does not write them again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

from botocore.exceptions import ClientError

from dicompress_ingest.archive import CHUNK

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MISSING = ("404", "NoSuchKey", "NotFound")
SINGLE_PUT_MAX = 64 * 1024 * 1024


def missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _MISSING


class S3Archive:
    """An uploaded object, read as a stream or by ranges (`archive.ArchiveSource`)."""

    def __init__(self, client: S3Client, bucket: str, key: str) -> None:
        self._client = client
        self.bucket = bucket
        self.key = key
        self.size = int(client.head_object(Bucket=bucket, Key=key)["ContentLength"])

    def stream(self) -> Iterator[bytes]:
        body = self._client.get_object(Bucket=self.bucket, Key=self.key)["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    def read_range(self, start: int, length: int) -> bytes:
        end = start + length - 1
        response = self._client.get_object(
            Bucket=self.bucket, Key=self.key, Range=f"bytes={start}-{end}"
        )
        data: bytes = response["Body"].read()
        return data


class S3Instances:
    """Writes ingested objects; `put` is idempotent for the same bytes."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def put(
        self, bucket: str, key: str, fp: IO[bytes], size: int, sha256: str, rerun: bool
    ) -> bool:
        """Store the object; in a re-run, not when the same bytes are already there (a first
        run does not ask: a HEAD per member would cost as much as the PUT). True if written."""
        if rerun and self._holds(bucket, key, sha256):
            return False
        fp.seek(0)
        metadata = {"sha256": sha256}
        if size <= SINGLE_PUT_MAX:
            self._client.put_object(
                Bucket=bucket,
                Key=key,
                Body=fp.read(),
                Metadata=metadata,
                ContentType="application/dicom",
            )
        else:  # a large multi-frame object: multipart, straight from the spooled file
            extra = {"Metadata": metadata, "ContentType": "application/dicom"}
            self._client.upload_fileobj(fp, bucket, key, ExtraArgs=extra)
        return True

    def _holds(self, bucket: str, key: str, sha256: str) -> bool:
        try:
            head = self._client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if missing(exc):
                return False
            raise
        return bool(head.get("Metadata", {}).get("sha256") == sha256)

    def register_attempt(self, bucket: str, prefix: str, worker: str) -> int:
        """This run's number: 1 + the runs recorded under `prefix` before it, recorded in turn."""
        listed = self._client.list_objects_v2(Bucket=bucket, Prefix=prefix)
        attempt = int(listed.get("KeyCount", 0)) + 1
        self._client.put_object(Bucket=bucket, Key=f"{prefix}{attempt}", Body=worker.encode())
        return attempt
