"""S3 for the ingest service (boto3, synchronous: the ingest runs in a worker thread).

Instances are written at content-derived keys with their SHA-256 in the object's metadata; a
re-run after a crash finds the same bytes already there and does not write them again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

import obstore
from botocore.exceptions import ClientError

from dicompress_infra.s3 import ObstoreBuckets
from dicompress_ingest.archive import CHUNK

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from dicompress_infra.settings import CommonSettings

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
    """Writes ingested objects; `put` is idempotent for the same bytes.

    The PUTs go through obstore (Rust's object_store, unsigned payload): measured on the
    embedded S3, 4.4 ms per 512 KiB object against 24 ms through boto3, whose signed payload
    the server must hash. Listing and HEAD stay on boto3 (a few per ingest).
    """

    def __init__(self, client: S3Client, settings: CommonSettings) -> None:
        self._client = client
        self._store = ObstoreBuckets(settings)

    def put(
        self, bucket: str, key: str, fp: IO[bytes], size: int, sha256: str, rerun: bool
    ) -> bool:
        """Store the object; in a re-run, not when the same bytes are already there (a first
        run does not ask: a HEAD per member would cost as much as the PUT). True if written."""
        if rerun and self._holds(bucket, key, sha256):
            return False
        fp.seek(0)
        # attributes other than the HTTP headers object_store names are user metadata
        attributes = {"Content-Type": "application/dicom", "sha256": sha256}
        if size <= SINGLE_PUT_MAX:
            obstore.put(self._store(bucket), key, fp.read(), attributes=attributes)
        else:  # a large multi-frame object: multipart, straight from the spooled file
            obstore.put(self._store(bucket), key, fp, attributes=attributes, use_multipart=True)
        return True

    def _holds(self, bucket: str, key: str, sha256: str) -> bool:
        try:
            head = self._client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if missing(exc):
                return False
            raise
        return bool(head.get("Metadata", {}).get("sha256") == sha256)
