"""Reading a stored object's bytes in chunks with the API's boto3 client (blocking: the
response's iterator runs in Starlette's thread pool, one chunk at a time)."""

from __future__ import annotations

from collections.abc import Iterator

from dicompress_api.adapters.s3client import S3Connection

CHUNK_BYTES = 1024 * 1024


class S3Chunks:
    """`archive.Chunks` of one bucket."""

    def __init__(self, s3: S3Connection, bucket: str, chunk_bytes: int = CHUNK_BYTES) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._chunk_bytes = chunk_bytes

    def __call__(self, key: str) -> Iterator[bytes]:
        client = self._s3.client
        if client is None:
            raise RuntimeError("S3Chunks used before the app's lifespan started S3")
        body = client.get_object(Bucket=self._bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(self._chunk_bytes)
        finally:
            body.close()
