"""Short-lived presigned GET URLs for what the compressor stored (slices, the ZIP).

Presigning is a local signature (no request to S3), so it is called straight from handlers.
The URL names the S3 endpoint of the settings: clients must be able to reach it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from dicompress_infra.s3 import S3Uri, make_s3_client
from dicompress_infra.settings import CommonSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3Presigner:
    """Signs GET URLs valid for `expiry_s` seconds; the client is built by `start` (lifespan)."""

    def __init__(self, settings: CommonSettings, expiry_s: int) -> None:
        self._settings = settings
        self.expiry_s = expiry_s
        self._client: S3Client | None = None

    async def start(self) -> None:
        self._client = make_s3_client(self._settings)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def url(self, uri: S3Uri) -> str:
        if self._client is None:
            raise RuntimeError(
                "S3Presigner.url called before start(); the app's lifespan starts it"
            )
        return self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": uri.bucket, "Key": uri.key},
            ExpiresIn=self.expiry_s,
        )

    def expires_at(self) -> datetime:
        """When URLs signed from now on stop working at the earliest: call it before signing."""
        return datetime.now(UTC) + timedelta(seconds=self.expiry_s)
