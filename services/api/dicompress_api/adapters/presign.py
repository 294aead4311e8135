"""Short-lived presigned GET URLs for what the compressor stored (slices, the ZIP).

Presigning is a local signature (no request to S3), so it is called straight from handlers.
The URL names the S3 endpoint of the settings: clients must be able to reach it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dicompress_api.adapters.s3client import S3Connection
from dicompress_infra.s3 import S3Uri


class S3Presigner:
    """Signs GET URLs valid for `expiry_s` seconds with the process's S3 client."""

    def __init__(self, s3: S3Connection, expiry_s: int) -> None:
        self._s3 = s3
        self.expiry_s = expiry_s

    async def start(self) -> None:
        await self._s3.start()

    async def close(self) -> None:
        await self._s3.close()

    def url(self, uri: S3Uri) -> str:
        client = self._s3.client
        if client is None:
            raise RuntimeError(
                "S3Presigner.url called before start(); the app's lifespan starts it"
            )
        return client.generate_presigned_url(
            "get_object",
            Params={"Bucket": uri.bucket, "Key": uri.key},
            ExpiresIn=self.expiry_s,
        )

    def expires_at(self) -> datetime:
        """When URLs signed from now on stop working at the earliest: call it before signing."""
        return datetime.now(UTC) + timedelta(seconds=self.expiry_s)
